import type { Clock } from './clock.ts'
import type { RoundRecord } from './round-record.ts'

/** How long to wait before trying again to commit a round the store refused (it may be restarting). */
const COMMIT_RETRY_MS = [1000, 2000, 5000, 10_000, 30_000] as const

/**
 * Keeps the round's record, trying again while the store refuses (a restarting database, a full
 * disk): no later round starts until this one is kept, and the operator sees why it waits. Never rejects.
 */
export async function commitUntilKept(
  commit: (record: RoundRecord) => Promise<void>,
  record: RoundRecord,
  clock: Clock,
  warn: (message: string) => void,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await commit(record)
      return
    } catch (error) {
      const ms = COMMIT_RETRY_MS[Math.min(attempt, COMMIT_RETRY_MS.length - 1)] as number
      warn(
        `round ${record.round}: could not be recorded (${(error as Error).message}); trying again in ${ms / 1000} s, and no round starts until it is`,
      )
      await new Promise<void>((resolve) => clock.after(ms, resolve))
    }
  }
}
