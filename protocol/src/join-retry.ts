import type { RefusalCode } from './errors.ts'
import type { ReceivedRefusalCode } from './messages.ts'

/**
 * Which refusals end a participant's part, and how long it waits before trying again after the
 * others. A final refusal is one that saying hello again cannot change: the participant (or its
 * operator) must do something first. Everything else (waiting for an operator's approval, a full
 * task, a limit, the coordinator's own fault, a code newer than this participant) is worth retrying.
 */
const FINAL: ReadonlySet<RefusalCode> = new Set<RefusalCode>([
  'wrong-version',
  'unknown-task',
  'task-finished',
  'revoked',
  'invite-required',
  'bad-invite',
  'excluded',
  'identity-mismatch',
  'identity-in-use',
  'browsers-disabled',
  'bad-key',
  'bad-proof',
  'invalid-spec',
  'unsupported',
  'malformed',
])

/** Whether retrying cannot help after a refusal with this code. */
export function refusalIsFinal(code: ReceivedRefusalCode): boolean {
  return code !== 'unknown' && FINAL.has(code)
}

/** The first wait after a refusal worth retrying, and the longest. */
export const RETRY_FIRST_MS = 1000
export const RETRY_MAX_MS = 60_000

/**
 * Milliseconds to wait before retry number `retries` (0 for the first since the last join): a base
 * of 1 s doubling each time up to 60 s, of which a random half is taken off ("equal jitter"), so
 * that participants refused together (a coordinator restarting, a full task) do not come back in
 * step, and none waits less than half the base. `random` returns a number in [0, 1).
 */
export function retryDelayMs(retries: number, random: () => number = Math.random): number {
  const base = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.min(Math.max(0, Math.floor(retries)), 16))
  const r = Math.min(Math.max(random(), 0), 1)
  return Math.round(base - (r * base) / 2)
}
