import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, rmSync, watch } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { openStore } from '@fedtune/coordinator/store'
import { afterAll, describe, expect, it } from 'vitest'
import { useEngines } from './engines.ts'

const engines = useEngines()
const script = fileURLToPath(new URL('./commit-rounds.ts', import.meta.url))
const scratch = mkdtempSync(join(tmpdir(), 'fedtune-store-crash-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

type Line = { readonly opening?: string; readonly ready?: number; readonly committed?: number }

/**
 * Runs the round loop in a child process and kills it with SIGKILL as soon as `killWhen` says so on a
 * line it printed; resolves with the rounds it reported committed once the child is dead.
 */
async function runUntilKilled(
  location: string,
  runId: number,
  killWhen: (line: Line, committed: readonly number[]) => boolean,
): Promise<readonly number[]> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script, location, String(runId)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const exited = once(child, 'exit')
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const committed: number[] = []
  let killed = false
  if (child.stdout === null) throw new Error('the child has no stdout')
  for await (const text of createInterface({ input: child.stdout })) {
    const line = JSON.parse(text) as Line
    if (line.committed !== undefined) committed.push(line.committed)
    if (killWhen(line, committed)) {
      child.kill('SIGKILL')
      killed = true
      break
    }
  }
  const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null]
  if (!killed || signal !== 'SIGKILL')
    throw new Error(`the child ended by itself (${code}, ${signal}): ${stderr}`)
  return committed
}

/** Reopens the store as a restarted coordinator would, and gives the run's committed rounds. */
async function roundsAfterRestart(location: string, runId: number): Promise<readonly number[]> {
  const store = await openStore(location)
  try {
    const rounds = await store.rounds.list(runId)
    for (const r of rounds) expect(r.record.round).toBe(r.round)
    return rounds.map((r) => r.round)
  } finally {
    await store.close()
  }
}

describe.each(engines)('on $name, a SIGKILL at any moment loses no committed round', (engine) => {
  it('killed at several points of the round loop, the store reopens with every reported round, consecutively', async () => {
    const location = await engine.fresh()
    const setup = await openStore(location)
    await setup.tasks.submit({ name: 'crash', file: {}, submittedBy: 'system' })
    const run = await setup.runs.create({ task: 'crash', settings: {} })
    await setup.close()

    // Kill points: as the store opens, right after it is ready (the first commit under way), and after
    // 1, 6 and 23 commits (the next one under way).
    const points: readonly ((line: Line, committed: readonly number[]) => boolean)[] = [
      (line) => line.opening !== undefined,
      (line) => line.ready !== undefined,
      (_, c) => c.length === 1,
      (_, c) => c.length === 6,
      (_, c) => c.length === 23,
    ]
    const reported: number[] = []
    for (const killWhen of points) {
      reported.push(...(await runUntilKilled(location, run.id, killWhen)))
      const rounds = await roundsAfterRestart(location, run.id)
      expect(rounds).toEqual(Array.from({ length: rounds.length }, (_, i) => i + 1))
      for (const round of reported) expect(rounds).toContain(round)
    }
    expect(reported.length).toBeGreaterThanOrEqual(30)
  })
})

describe('a PGlite folder killed while it is being created', () => {
  it('opens afterwards, migrated, whatever moment of its creation the kill came', async () => {
    // Creating a cluster writes ~1000 files; the kill comes at the 1st or the 400th write,
    // or when the child has opened the store, whichever is first.
    for (const writes of [1, 400]) {
      const folder = join(scratch, `new-${writes}`)
      mkdirSync(folder)
      const watcher = watch(folder, { recursive: true })
      const child = spawn(process.execPath, ['--import', 'tsx', script, folder, '1', '0'], {
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      const exited = once(child, 'exit')
      const ready = new Promise<void>((resolve) => {
        if (child.stdout === null) throw new Error('the child has no stdout')
        createInterface({ input: child.stdout }).on('line', (text) => {
          if ((JSON.parse(text) as Line).ready !== undefined) resolve()
        })
      })
      let seen = 0
      const written = new Promise<void>((resolve) =>
        watcher.on('change', () => {
          if (++seen === writes) resolve()
        }),
      )
      await Promise.race([ready, written])
      child.kill('SIGKILL')
      watcher.close()
      const [, signal] = await exited
      expect(signal).toBe('SIGKILL')
      const store = await openStore(folder)
      try {
        expect((await store.migrations()).length).toBeGreaterThan(0)
        expect(await store.tasks.list()).toEqual([])
      } finally {
        await store.close()
      }
    }
  })
})
