import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type BestSummary, bestSummary } from '@fedtune/coordinator/best-summary'
import { RoundLog, type RoundRecord } from '@fedtune/coordinator/round-log'
import type { SelectionMetric } from '@fedtune/model'
import { escapeText } from '@fedtune/protocol'
import { type ApiClient, ApiError } from './api-client.ts'
import { CommandError } from './command-io.ts'
import type { KeptRounds, RunView } from './run-views.ts'

/** What `exportRun` wrote. */
export type ExportedRun = {
  readonly run: RunView & { readonly settings: unknown }
  readonly rounds: number
  readonly heads: number
  /** The best round by the task's validation metric, with its test figures; null without one. */
  readonly best: BestSummary | null
}

/** The files of a run folder this writes; with `force`, only these are removed first. */
const RUN_FILES = ['rounds.jsonl', 'rounds.svg', 'run.json', 'input-centre.json']
const HEAD_FILE = /^round-[0-9]{4,}(\.adam)?\.f32$/

/**
 * Writes run `id` as the coordinator keeps a run's folder, from its API: rounds.jsonl and rounds.svg
 * written by the coordinator's own RoundLog (one record a line, as kept), heads/round-NNNN.f32 for
 * every round with a head (raw float32, as served), and run.json (the run and its settings), last.
 * A folder that holds anything is refused unless `force`, which removes the files this writes first.
 * A run.json says the folder is whole: a failure halfway leaves the rounds written so far without one.
 * The initial head (round 0) comes from the run's folder on the coordinator, and so do FedAdam's
 * moments beside each head (heads/round-NNNN.adam.f32), which a run carried on from needs, and
 * its input centre (input-centre.json) when its heads were trained on centred embeddings.
 */
export async function exportRun(
  client: ApiClient,
  id: number,
  dir: string,
  opts: { readonly force: boolean; readonly onHead?: (done: number, total: number) => void },
): Promise<ExportedRun> {
  const held = entriesOf(dir, opts.force)
  const run = await client.get<RunView & { settings: unknown }>(`/api/runs/${id}`)
  const { rounds } = await client.get<KeptRounds>(`/api/runs/${id}/rounds`)
  // only once the run is known to exist: a mistyped --run with --force removes nothing
  clear(dir, held)
  const log = new RoundLog(dir, [], `task ${run.task}: the global head per round`)
  const total = rounds.filter((r) => r.head).length + 1
  let heads = 0
  let size: number | undefined
  const adam =
    (run.settings as { training?: { server?: { optimizer?: string } } } | null)?.training?.server
      ?.optimizer === 'adam'
  /** A file the run may not have (404): its bytes, or null. */
  const optional = async (path: string): Promise<Uint8Array | null> => {
    try {
      return await client.bytes(path)
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return null
      throw error
    }
  }
  // the embedding its heads' inputs were centred on (head.inputCentre), when they were
  const centre = await optional(`/api/runs/${id}/input-centre`)
  if (centre !== null) writeFileSync(join(dir, 'input-centre.json'), centre)
  const initial = await optional(`/api/runs/${id}/rounds/0/head`)
  if (initial !== null) {
    size = initial.byteLength
    log.writeHead(0, new Float32Array(initial.slice().buffer))
    opts.onHead?.(++heads, total)
  }
  for (const kept of rounds) {
    // the record as the coordinator keeps it: the rest is said of it by the API
    const { committedAt: _committedAt, head, evaluation: _evaluation, ...record } = kept
    if (!Number.isSafeInteger(record.round) || record.round < 0)
      throw new CommandError(
        `run ${id}: expected each kept round to have a round number, got ${escapeText(JSON.stringify(record.round), 40)}`,
      )
    if (head) {
      const bytes = await client.bytes(`/api/runs/${id}/rounds/${record.round}/head`)
      size ??= bytes.byteLength
      if (bytes.byteLength % 4 !== 0 || bytes.byteLength !== size)
        throw new CommandError(
          `run ${id}: expected the head after round ${record.round} to hold ${size} bytes of float32 like the first, got ${bytes.byteLength}`,
        )
      const moments = adam ? await optional(`/api/runs/${id}/rounds/${record.round}/server-state`) : null
      if (moments !== null && moments.byteLength !== 2 * bytes.byteLength)
        throw new CommandError(
          `run ${id}: expected FedAdam's moments after round ${record.round} to hold ${2 * bytes.byteLength} bytes, got ${moments.byteLength}`,
        )
      const both = moments && new Float32Array(moments.slice().buffer)
      const half = bytes.byteLength / 4
      log.writeHead(
        record.round,
        new Float32Array(bytes.slice().buffer),
        both && { m: both.subarray(0, half), v: both.subarray(half) },
      )
      opts.onHead?.(++heads, total)
    }
    log.append(record as unknown as RoundRecord)
  }
  writeFileSync(join(dir, 'run.json'), `${JSON.stringify(run, null, 2)}\n`)
  const metric =
    (run.settings as { evaluation?: { metric?: SelectionMetric } } | null)?.evaluation?.metric ?? 'auc'
  return { run, rounds: rounds.length, heads, best: bestSummary(log.records, metric) }
}

/** What the folder holds (nothing when new); refused when it holds anything, unless `force`. */
function entriesOf(dir: string, force: boolean): readonly string[] {
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new CommandError(`cannot use ${escapeText(dir)} as the run's folder: ${(error as Error).message}`)
    return []
  }
  if (entries.length > 0 && !force)
    throw new CommandError(
      `expected an empty or new folder, got ${escapeText(dir)} holding ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}; pass --force to replace the run files in it (rounds.jsonl, rounds.svg, run.json, heads/round-*.f32)`,
    )
  return entries
}

/** Removes the run files a folder holds (only those: a run folder's other files stay). */
function clear(dir: string, entries: readonly string[]): void {
  mkdirSync(dir, { recursive: true })
  for (const file of RUN_FILES) rmSync(join(dir, file), { force: true })
  const headsDir = join(dir, 'heads')
  if (entries.includes('heads'))
    for (const file of readdirSync(headsDir)) if (HEAD_FILE.test(file)) rmSync(join(headsDir, file))
}
