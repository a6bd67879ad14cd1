import { parseSpentRound, type SpentRound } from '@fedtune/protocol'
import { appendJsonLine, readTextIfAny, taskCacheFile } from './jsonl-file.js'

/**
 * The hospital's privacy ledger for one task: every round whose update it released under the task's
 * differential privacy, with what that round spent (protocol's `SpentRound`), one JSON line each,
 * fsynced before the update goes out. Its budget is composed from it at every start, so a restart,
 * a crash or a reinstalled client with the same cache never resets it; only the hospital, deleting
 * the file, can (docs/privacy.md).
 */

/** <cache>/privacy/<task>/<name>.jsonl, beside the history; names outside TASK_NAME are refused. */
export function privacyLedgerFile(cacheDir: string, task: string, name: string): string {
  return taskCacheFile(cacheDir, 'privacy', 'privacy ledger', task, name)
}

/**
 * Keeps one released round: one line, fsynced before this returns. A line a crash cut short (its
 * update never went out: the write had not returned) is cut off first, so that every line in the file
 * is a whole round. Throws when it cannot keep it, and then the update must not go out.
 */
export function appendSpentRound(file: string, spent: SpentRound): void {
  appendJsonLine(file, spent, 'cut')
}

/**
 * The rounds kept, in order; none for a file that does not exist yet. A last line without its line
 * end was cut short by a crash before its update could go out, and is passed over. Any other line
 * that does not read is refused: the budget spent could then not be known, and guessing low would
 * break the guarantee.
 */
export function readPrivacyLedger(file: string): SpentRound[] {
  const text = readTextIfAny(file)
  if (text === null) return []
  const lines = text.split('\n')
  lines.pop() // '' after the last line end, or a line cut short
  return lines.map((line, i) => {
    try {
      return parseSpentRound(JSON.parse(line), `line ${i + 1}`)
    } catch (error) {
      throw new Error(
        `the privacy ledger ${file} cannot be read at line ${i + 1} (${(error as Error).message}): the privacy budget spent cannot be known; restore the file or, as the hospital's own decision, remove it to start the budget over`,
      )
    }
  })
}
