import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { HeadSpec } from '@fedtune/protocol'
import type { Progress } from '../rounds/round.ts'
import type { RoundRecord } from '../rounds/round-record.ts'

/**
 * A run folder holds everything needed to continue after a crash: run.json (what the run is),
 * rounds.jsonl (one record per finished round) and heads/round-NNNN.f32 (the global head after each
 * aggregated round, round 0 being the initial head). Rounds are written as they end, so a crash
 * loses at most the round in progress.
 */
export type RunMeta = {
  readonly format: 'fedtune-run/1'
  readonly task: string
  readonly backboneDigest: string
  readonly head: HeadSpec
  readonly paramCount: number
  readonly createdAt: string
}

export type Resumed = Progress & {
  readonly global: Float32Array
  readonly records: readonly RoundRecord[]
  /** A last line cut short by the crash, dropped. */
  readonly droppedPartialLine: boolean
}

export class RunFolderError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'RunFolderError'
  }
}

export function headFile(dir: string, round: number): string {
  return join(dir, 'heads', `round-${String(round).padStart(4, '0')}.f32`)
}

/** FedAdam's moments after `round` (m then v, float32), beside that round's head. */
export function serverStateFile(dir: string, round: number): string {
  return join(dir, 'heads', `round-${String(round).padStart(4, '0')}.adam.f32`)
}

/**
 * Opens a run folder: a new one gets run.json; an existing one is refused unless `resume`, and then
 * it must be the same task (backbone, head) and yields where the run stopped.
 */
export function openRunFolder(dir: string, meta: RunMeta, resume: boolean): Resumed | null {
  const metaFile = join(dir, 'run.json')
  if (!existsSync(metaFile)) {
    writeFileSync(metaFile, `${JSON.stringify(meta, null, 2)}\n`)
    return null
  }
  const previous = JSON.parse(readFileSync(metaFile, 'utf8')) as RunMeta
  const records = readRecords(dir)
  if (!resume)
    throw new RunFolderError(
      `${dir} already holds a run of task "${previous.task}" (${records.records.length} rounds recorded); pass --resume to continue it, or choose another --out`,
    )
  for (const [field, was, now] of [
    ['backbone digest', previous.backboneDigest, meta.backboneDigest],
    ['head', JSON.stringify(previous.head), JSON.stringify(meta.head)],
    ['parameter count', String(previous.paramCount), String(meta.paramCount)],
  ] as const)
    if (was !== now)
      throw new RunFolderError(`cannot resume ${dir}: its ${field} is ${was}, the task file now says ${now}`)

  const last = records.records.at(-1)
  const lastAggregated = [...records.records].reverse().find((r) => r.status === 'aggregated')?.round ?? 0
  const bytes = readFileSync(headFile(dir, lastAggregated))
  if (bytes.byteLength !== meta.paramCount * 4)
    throw new RunFolderError(
      `cannot resume ${dir}: ${headFile(dir, lastAggregated)} holds ${bytes.byteLength} bytes, expected ${meta.paramCount * 4}`,
    )
  const stateFile = serverStateFile(dir, lastAggregated)
  let server: Progress['server'] = null
  if (existsSync(stateFile)) {
    const state = readFileSync(stateFile)
    if (state.byteLength !== meta.paramCount * 8)
      throw new RunFolderError(
        `cannot resume ${dir}: ${stateFile} holds ${state.byteLength} bytes, expected ${meta.paramCount * 8}`,
      )
    const both = new Float32Array(state.buffer.slice(state.byteOffset, state.byteOffset + state.byteLength))
    server = { m: both.subarray(0, meta.paramCount), v: both.subarray(meta.paramCount) }
  }
  const lastRecord = records.records.find((r) => r.round === lastAggregated)
  return {
    round: last?.round ?? 0,
    server,
    labelCounts: lastRecord?.labelCounts ?? null,
    completed: records.records.filter((r) => r.status === 'aggregated').length,
    failed: records.records.filter((r) => r.status === 'failed').length,
    global: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)),
    records: records.records,
    droppedPartialLine: records.droppedPartialLine,
  }
}

function readRecords(dir: string): { records: RoundRecord[]; droppedPartialLine: boolean } {
  const file = join(dir, 'rounds.jsonl')
  if (!existsSync(file)) return { records: [], droppedPartialLine: false }
  const text = readFileSync(file, 'utf8')
  // The last element is '' after a final newline, or a line the crash cut short.
  const complete = text.split('\n').slice(0, -1)
  const droppedPartialLine = !text.endsWith('\n') && text.length > 0
  const records = complete.map((line, i) => {
    try {
      return JSON.parse(line) as RoundRecord
    } catch (error) {
      throw new RunFolderError(`${file}: line ${i + 1} is not a round record (${(error as Error).message})`)
    }
  })
  // Rewrite without the torn line so later appends start on a fresh line.
  if (droppedPartialLine) writeFileSync(file, complete.map((l) => `${l}\n`).join(''))
  return { records, droppedPartialLine }
}
