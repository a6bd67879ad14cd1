import { appendJsonLine, readTextIfAny, taskCacheFile } from './jsonl-file.js'

export type RoundOutcome = 'aggregated' | 'dropped' | 'failed'

/**
 * The global head's metrics on this hospital's own validation split (with the round's prediction
 * prior). `balancedAccuracy` and `recall` (one per class) are null in entries written before they were kept.
 */
export type LocalMetricsOfGlobal = {
  readonly accuracy: number | null
  readonly auc: number | null
  readonly examples: number
  readonly balancedAccuracy: number | null
  readonly recall: readonly (number | null)[] | null
}

/**
 * One round this hospital took part in, as it saw it. Kept on this machine only: it is the
 * hospital's own view, which the coordinator never has (its update and validation set stay here).
 */
export type HistoryEntry = {
  readonly round: number
  /** When the entry was written (ISO 8601). */
  readonly time: string
  readonly task: string
  readonly outcome: RoundOutcome
  /** Why, for a dropped or failed round. */
  readonly reason: string | null
  /** What this client's socket emitted during the round, framing included. */
  readonly bytesSent: number
  /** Local training examples (never sent in a secure round: only inside the masked sum). */
  readonly examples: number | null
  /** The global head this round started from (the previous round's aggregate), on the local validation split. */
  readonly global: LocalMetricsOfGlobal | null
  /**
   * ε this hospital had spent on the task by the end of the round (its own accountant at the task's
   * δ, from its privacy ledger: privacy-ledger.ts); null for a task without differential privacy.
   */
  readonly privacy: number | null
  /**
   * ε the coordinator reported spent by the federation after the round (its `round-result`'s
   * `epsilon`: every round the federation released, with its survivors), beside `privacy`, this
   * hospital's own; null without privacy, for a round that ended without a result (this hospital
   * stopped), and in entries written before it was kept.
   */
  readonly coordinatorEpsilon: number | null
}

/**
 * <cache>/history/<task>/<name>.jsonl. The task's name comes from the coordinator: one outside
 * TASK_NAME (a "../", say) is refused rather than let it name a path outside the cache.
 */
export function historyFile(cacheDir: string, task: string, name: string): string {
  return taskCacheFile(cacheDir, 'history', 'history', task, name)
}

/**
 * Appends one entry as one line and fsyncs it, so an entry either is on disk whole or, after a
 * crash mid-write, is a torn last line that `readHistory` passes over. A torn line is first ended,
 * so that the new entry starts a line of its own.
 */
export function appendHistory(file: string, entry: HistoryEntry): void {
  appendJsonLine(file, entry, 'end')
}

/**
 * The entries of a history file in order, and how many lines could not be read (a torn last line
 * after a crash, or a line edited by hand); none for a file that does not exist yet.
 */
export function readHistory(file: string): { entries: HistoryEntry[]; unreadable: number } {
  const text = readTextIfAny(file)
  if (text === null) return { entries: [], unreadable: 0 }
  const entries: HistoryEntry[] = []
  let unreadable = 0
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    const entry = parseEntry(line)
    if (entry) entries.push(entry)
    else unreadable += 1
  }
  return { entries, unreadable }
}

const OUTCOMES: readonly string[] = ['aggregated', 'dropped', 'failed']

/** One line read back, checked field by field; null when it is not an entry. */
function parseEntry(line: string): HistoryEntry | null {
  let o: unknown
  try {
    o = JSON.parse(line)
  } catch {
    return null // a torn or hand-edited line: counted, not fatal
  }
  if (typeof o !== 'object' || o === null) return null
  const e = o as Record<string, unknown>
  const count = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
  const share = (v: unknown) => v === null || (typeof v === 'number' && v >= 0 && v <= 1)
  if (!count(e.round) || typeof e.time !== 'string' || typeof e.task !== 'string') return null
  if (typeof e.outcome !== 'string' || !OUTCOMES.includes(e.outcome)) return null
  if (e.reason !== null && typeof e.reason !== 'string') return null
  if (!count(e.bytesSent) || (e.examples !== null && !count(e.examples))) return null
  if (e.privacy !== null && typeof e.privacy !== 'number') return null
  const coordinatorEpsilon = e.coordinatorEpsilon ?? null
  if (coordinatorEpsilon !== null && typeof coordinatorEpsilon !== 'number') return null
  let global: LocalMetricsOfGlobal | null = null
  if (e.global !== null) {
    const g = e.global as Record<string, unknown> | undefined
    if (typeof g !== 'object' || !share(g.accuracy) || !share(g.auc) || !count(g.examples)) return null
    const balanced = g.balancedAccuracy ?? null
    const recall = g.recall ?? null
    if (!share(balanced)) return null
    if (recall !== null && !(Array.isArray(recall) && recall.every(share))) return null
    global = {
      accuracy: g.accuracy as number | null,
      auc: g.auc as number | null,
      examples: g.examples as number,
      balancedAccuracy: balanced as number | null,
      recall: recall as (number | null)[] | null,
    }
  }
  return {
    round: e.round as number,
    time: e.time,
    task: e.task,
    outcome: e.outcome as RoundOutcome,
    reason: e.reason as string | null,
    bytesSent: e.bytesSent as number,
    examples: e.examples as number | null,
    global,
    privacy: e.privacy as number | null,
    coordinatorEpsilon,
  }
}
