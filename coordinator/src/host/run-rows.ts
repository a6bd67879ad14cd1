import { readFileSync } from 'node:fs'
import { ORIGINAL_ONLY } from '@fedtune/protocol'
import { accountedRounds } from '../privacy/accounted-rounds.ts'
import { privacyChange } from '../privacy/privacy-change.ts'
import type { BestRound } from '../rounds/best-round.ts'
import type { Progress } from '../rounds/round.ts'
import type { RoundRecord } from '../rounds/round-log.ts'
import { type Run, type Store, type StoredRound, StoreError } from '../store/index.ts'
import { headFile, RunFolderError, serverStateFile } from '../store/run-folder.ts'
import type { TaskFile } from '../tasks/task-file.ts'

/*
 * A run's rows in the run store: which run a task file continues or starts, its rounds kept, its end,
 * and where a restarted run carries on from.
 */

export type Resumed = Progress & {
  readonly global: Float32Array
  readonly best: BestRound
  readonly records: readonly RoundRecord[]
}

/**
 * The task's run to serve: its unfinished run when there is one with the same settings (a restart
 * carries on by itself), else a new one. An unfinished run with other settings is refused unless
 * `newRun` (then it is stopped, saying why).
 */
export async function runOf(
  store: Store,
  task: TaskFile,
  newRun: boolean,
  print: (line: string) => void,
): Promise<Run> {
  const file = JSON.parse(JSON.stringify(task)) as TaskFile
  const stored = await store.tasks.get<TaskFile>(task.name)
  if (stored === null) await store.tasks.submit({ name: task.name, file, submittedBy: 'coordinator' })
  else if (canonical(stored.file) !== canonical(file))
    await store.tasks.replace(task.name, file, 'coordinator')
  const unfinished = (await store.runs.unfinished<TaskFile>()).filter((r) => r.task === task.name)
  for (const run of unfinished) {
    if (canonical(settingsOf(run)) === canonical(file) && !newRun) return run
    // ε was spent under the run's privacy: carrying it on under other settings would misstate it
    const change = privacyChange(run.settings.privacy, file.privacy)
    if (!newRun && change !== null)
      throw new RunFolderError(
        `task "${task.name}" has an unfinished run (${run.id}) whose privacy this task file changes (${change}); a run's privacy cannot change mid-run: restore the file's privacy section, or pass --new-run to stop that run and start a new one`,
      )
    if (!newRun)
      throw new RunFolderError(
        `task "${task.name}" has an unfinished run (${run.id}) with other settings than this task file (${settingsDiff(settingsOf(run), file).join(', ')}); pass --new-run to stop it and start a new one, or restore the file`,
      )
    await endRun(store, run.id, 'stopped', 'replaced by a new run with other settings')
    print(`stopped run ${run.id} of task ${task.name}: replaced by a new run`)
  }
  const run = await store.runs.create({ task: task.name, settings: file })
  await store.audit.append({
    actor: 'system',
    action: 'run.created',
    outcome: 'ok',
    task: task.name,
    run: run.id,
  })
  return run
}

/**
 * A run's settings as this version reads them: a run kept before `head.inputCentre` existed ran on
 * raw embeddings, so it reads as "none" (a task file asking for "validation" is then another setting);
 * one kept before `backbone.views` existed embedded the original alone, so it reads as ["original"].
 */
export function settingsOf(run: Run<TaskFile>): TaskFile {
  const head: Partial<TaskFile['head']> & Omit<TaskFile['head'], 'inputCentre'> = run.settings.head
  const backbone: Partial<TaskFile['backbone']> & Omit<TaskFile['backbone'], 'views'> = run.settings.backbone
  return {
    ...run.settings,
    backbone: backbone.views === undefined ? { ...backbone, views: ORIGINAL_ONLY } : run.settings.backbone,
    head: head.inputCentre === undefined ? { ...head, inputCentre: 'none' } : run.settings.head,
  }
}

/** JSON with every object's keys sorted: the database's jsonb keeps its own key order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )
}

/** The top-level fields (and their first level) in which two task files differ. */
function settingsDiff(a: unknown, b: unknown, prefix = '', depth = 0): string[] {
  if (canonical(a) === canonical(b)) return []
  if (depth > 1 || typeof a !== 'object' || typeof b !== 'object' || a === null || b === null)
    return [prefix || 'the file']
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...keys].flatMap((k) =>
    settingsDiff(
      (a as Record<string, unknown>)[k],
      (b as Record<string, unknown>)[k],
      prefix ? `${prefix}.${k}` : k,
      depth + 1,
    ),
  )
}

/** One round, kept: its row commits, or it was committed by an attempt whose answer was lost. */
export async function commitRound(
  store: Store,
  runId: number,
  record: RoundRecord,
  head: string | null,
): Promise<void> {
  try {
    await store.rounds.commit(runId, record, head)
  } catch (error) {
    if (!(error instanceof StoreError && error.code === 'conflict')) throw error
    const kept = await store.rounds.get<RoundRecord>(runId, record.round)
    if (kept === null || JSON.stringify(kept.record.startedAt) !== JSON.stringify(record.startedAt))
      throw error
  }
}

export async function endRun(
  store: Store,
  runId: number,
  state: 'finished' | 'stopped' | 'failed',
  reason: string,
): Promise<void> {
  const run = await store.runs.setState(runId, state, reason)
  await store.audit.append({
    actor: 'system',
    action: `run.${state}`,
    outcome: 'ok',
    task: run.task,
    run: runId,
    detail: { reason },
  })
}

/** Where a run stopped, from its kept rounds and the head files beside them; null before its first round. */
export function resumeFrom(
  dir: string,
  rounds: readonly StoredRound<RoundRecord>[],
  paramCount: number,
): Resumed | null {
  if (rounds.length === 0) return null
  const records = rounds.map((r) => r.record)
  const last = [...records].reverse().find((r) => r.status === 'aggregated')
  const lastAggregated = last?.round ?? 0
  const file = headFile(dir, lastAggregated)
  let bytes: Buffer
  try {
    bytes = readFileSync(file)
  } catch (error) {
    throw new RunFolderError(
      `cannot continue: the head after round ${lastAggregated} (${file}) cannot be read: ${(error as Error).message}`,
    )
  }
  if (bytes.byteLength !== paramCount * 4)
    throw new RunFolderError(
      `cannot continue: ${file} holds ${bytes.byteLength} bytes, expected ${paramCount * 4}`,
    )
  let server: Progress['server'] = null
  try {
    const state = readFileSync(serverStateFile(dir, lastAggregated))
    if (state.byteLength === paramCount * 8) {
      const both = new Float32Array(state.buffer.slice(state.byteOffset, state.byteOffset + state.byteLength))
      server = { m: both.subarray(0, paramCount), v: both.subarray(paramCount) }
    }
  } catch {
    // no FedAdam state beside this head: the run used another server optimizer
  }
  return {
    round: records.at(-1)?.round ?? 0,
    server,
    labelCounts: last?.labelCounts ?? null,
    // a private run's budget goes on from what its kept rounds spent
    accounted: accountedRounds(records),
    completed: records.filter((r) => r.status === 'aggregated').length,
    failed: records.filter((r) => r.status === 'failed').length,
    global: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)),
    // every record carries the best round so far (records kept before it existed have none)
    best: records.at(-1)?.best ?? null,
    records,
  }
}
