import { parseSpentRound, type SpentRound } from '@fedtune/protocol'
import { load, save } from './store.ts'

/**
 * This browser's privacy ledger for a task: every round whose update it released under the task's
 * differential privacy (protocol's `SpentRound`), kept in the page's IndexedDB store before the
 * update goes out, so that a reload or a new visit composes its budget from all of them. "Stop"
 * deletes it with everything else the page stored, and says so.
 */

function key(taskId: string): string {
  return `privacy:${taskId}`
}

/** The rounds kept for the task, in order; none before the first. A record that does not read is refused. */
export async function loadSpentRounds(taskId: string): Promise<SpentRound[]> {
  const stored = await load<unknown>(key(taskId))
  if (stored === undefined) return []
  if (!Array.isArray(stored))
    throw new Error(
      `this browser's privacy record for task ${taskId} is not a list of rounds: the privacy budget spent cannot be known; "Stop and delete" clears it`,
    )
  return stored.map((round, i) => parseSpentRound(round, `privacy record, round ${i + 1}`))
}

/** Keeps the task's rounds (the new one last); resolves once IndexedDB has committed them. */
export async function keepSpentRounds(taskId: string, rounds: readonly SpentRound[]): Promise<void> {
  await save(key(taskId), rounds)
}
