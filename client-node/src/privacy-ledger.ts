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
import { parseSpentRound, type SpentRound, TASK_NAME } from '@fedtune/protocol'

/**
 * The hospital's privacy ledger for one task: every round whose update it released under the task's
 * differential privacy, with what that round spent (protocol's `SpentRound`), one JSON line each,
 * fsynced before the update goes out. Its budget is composed from it at every start, so a restart,
 * a crash or a reinstalled client with the same cache never resets it; only the hospital, deleting
 * the file, can (docs/privacy.md).
 */

/** <cache>/privacy/<task>/<name>.jsonl, beside the history; names outside TASK_NAME are refused. */
export function privacyLedgerFile(cacheDir: string, task: string, name: string): string {
  for (const [what, value] of [
    ['task', task],
    ['name', name],
  ] as const)
    if (!TASK_NAME.test(value))
      throw new Error(
        `privacy ledger: expected a ${what} of letters, digits, ".", "_" or "-", got ${JSON.stringify(value).slice(0, 80)}`,
      )
  return join(cacheDir, 'privacy', task, `${name}.jsonl`)
}

/**
 * Keeps one released round: one line, fsynced before this returns. A line a crash cut short (its
 * update never went out: the write had not returned) is cut off first, so that every line in the file
 * is a whole round. Throws when it cannot keep it, and then the update must not go out.
 */
export function appendSpentRound(file: string, spent: SpentRound): void {
  mkdirSync(dirname(file), { recursive: true })
  const fd = openSync(file, 'a+', 0o600)
  try {
    const size = fstatSync(fd).size
    const whole = wholeLinesEnd(fd, size)
    if (whole < size) ftruncateSync(fd, whole)
    writeSync(fd, `${JSON.stringify(spent)}\n`)
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

/**
 * The rounds kept, in order; none for a file that does not exist yet. A last line without its line
 * end was cut short by a crash before its update could go out, and is passed over. Any other line
 * that does not read is refused: the budget spent could then not be known, and guessing low would
 * break the guarantee.
 */
export function readPrivacyLedger(file: string): SpentRound[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
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
