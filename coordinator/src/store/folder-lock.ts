import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { StoreError } from './store-error.ts'

/** Folders this process holds, so a lock file with our own pid left by an earlier process of that pid is told apart. */
const held = new Set<string>()

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but is another user's.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Takes `<folder>/fedtune.lock` (our pid) for as long as the store is open: PGlite is one process's
 * database, and two processes writing one folder would corrupt it. A lock whose process is gone (a
 * crash, a SIGKILL) is taken over. Returns the release.
 */
export function lockFolder(folder: string, describe: string): () => void {
  const key = resolve(folder)
  const path = join(key, 'fedtune.lock')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' })
      held.add(key)
      return () => {
        held.delete(key)
        rmSync(path, { force: true })
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const owner = Number.parseInt(readFileSync(path, 'utf8'), 10)
    const ours = owner === process.pid
    if ((ours && held.has(key)) || (!ours && Number.isSafeInteger(owner) && owner > 0 && alive(owner)))
      throw new StoreError(
        'unavailable',
        `${describe} is in use by ${ours ? 'this process' : `process ${owner}`}: PGlite serves one process ` +
          `at a time (use a PostgreSQL server for more); if no fedtune uses it, remove ${path}`,
      )
    rmSync(path, { force: true })
  }
  throw new StoreError('unavailable', `${describe}: another process took ${path} at the same moment`)
}
