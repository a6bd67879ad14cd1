import {
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  writeSync,
} from 'node:fs'
import { dirname, join } from 'node:path'
import { TASK_NAME } from '@fedtune/protocol'

/**
 * The JSON-lines files a client keeps per task in its cache (the history, the privacy ledger): where
 * they live, one fsynced line appended at a time, and read back whole.
 */

/**
 * <cache>/<folder>/<task>/<name>.jsonl. The task's name comes from the coordinator: one outside
 * TASK_NAME (a "../", say) is refused rather than let it name a path outside the cache; `what` names
 * the file in that error.
 */
export function taskCacheFile(
  cacheDir: string,
  folder: string,
  what: string,
  task: string,
  name: string,
): string {
  for (const [field, value] of [
    ['task', task],
    ['name', name],
  ] as const)
    if (!TASK_NAME.test(value))
      throw new Error(
        `${what}: expected a ${field} of letters, digits, ".", "_" or "-", got ${JSON.stringify(value).slice(0, 80)}`,
      )
  return join(cacheDir, folder, task, `${name}.jsonl`)
}

/**
 * What to do with a last line a crash cut short before appending: `end` it (it stays, as a line of
 * its own, for the reader to pass over) or `cut` it off (so that every line in the file is whole).
 */
export type TornLine = 'end' | 'cut'

/** Appends `value` as one JSON line and fsyncs it before returning; throws when it cannot. */
export function appendJsonLine(file: string, value: unknown, torn: TornLine): void {
  mkdirSync(dirname(file), { recursive: true })
  const fd = openSync(file, 'a+', 0o600)
  try {
    const size = fstatSync(fd).size
    let prefix = ''
    if (torn === 'cut') {
      const whole = wholeLinesEnd(fd, size)
      if (whole < size) ftruncateSync(fd, whole)
    } else if (size > 0) {
      const last = Buffer.alloc(1)
      readSync(fd, last, 0, 1, size - 1)
      if (last[0] !== 0x0a) prefix = '\n'
    }
    writeSync(fd, `${prefix}${JSON.stringify(value)}\n`)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** The offset just past the file's last line end (0 with none). */
function wholeLinesEnd(fd: number, size: number): number {
  const chunk = Buffer.alloc(4096)
  for (let end = size; end > 0; ) {
    const start = Math.max(0, end - chunk.length)
    const read = readSync(fd, chunk, 0, end - start, start)
    const at = chunk.subarray(0, read).lastIndexOf(0x0a)
    if (at >= 0) return start + at + 1
    end = start
  }
  return 0
}

/** The file's text, or null for a file that does not exist yet. */
export function readTextIfAny(file: string): string | null {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
}
