/**
 * Why a request was refused before its handler ran. Each has its own status and code, so a script can
 * tell "sign in again" (401) from "ask an admin for a role" (403).
 */
export type RefusalCode =
  /** No credentials at all on a route that needs them. */
  | 'unauthenticated'
  /** An Authorization header or session cookie that is malformed or names nothing this coordinator issued. */
  | 'bad-credentials'
  | 'session-expired'
  /** Signed out, or its operator disabled. */
  | 'session-revoked'
  | 'token-revoked'
  /** A coordinator built without a store has no accounts: nothing non-public can be reached. */
  | 'no-accounts'
  /** A known operator whose role is below the route's. */
  | 'forbidden'
  | 'csrf-missing'
  | 'csrf-mismatch'

export type Refusal = {
  readonly status: 401 | 403
  readonly code: RefusalCode
  readonly message: string
  /** Who is refused, for the audit log: the operator when one is known, else 'anonymous'. */
  readonly actor: string
}

/** The audit log's actor for a request that proved no identity. */
export const ANONYMOUS = 'anonymous'

export function refusal(status: 401 | 403, code: RefusalCode, message: string, actor = ANONYMOUS): Refusal {
  return { status, code, message, actor }
}
