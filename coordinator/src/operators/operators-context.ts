import type { FastifyRequest } from 'fastify'
import type { AuditOutcome } from '../store/audit.ts'
import type { Store } from '../store/open-store.ts'
import type { SignInFailure } from './sign-in-failure.ts'
import type { SignInLimiter } from './sign-in-limiter.ts'

/** What the operator routes share: the store, the clock, the sign-in limiter and the session settings. */
export type OperatorsContext = {
  readonly store: Store
  readonly now: () => Date
  readonly limiter: SignInLimiter
  /** How long a session lasts from sign-in. */
  readonly sessionMs: number
  /** Mark cookies Secure: always, never, or 'auto' when the request came over TLS (`request.protocol`). */
  readonly secureCookies: boolean | 'auto'
  /** Audits a refused request within its address's audit budget (audit-budget.ts): past it, counted into a summary row. */
  readonly auditRefused: (request: FastifyRequest, entry: AuditedRequest) => Promise<unknown>
  /** Told of each refused sign-in, with why (for the coordinator's metrics). */
  readonly onSignInFailed?: ((reason: SignInFailure) => void) | undefined
}

/** What a request's audit row says besides its address. */
export type AuditedRequest = {
  readonly actor: string
  readonly action: string
  readonly outcome: AuditOutcome
  readonly target?: string | null
  readonly task?: string
  readonly run?: number
  readonly detail?: Readonly<Record<string, unknown>>
}

/** One line in the audit log about `request`: its address is the one fastify's trustProxy settled on. */
export function auditRequest(
  ctx: Pick<OperatorsContext, 'store'>,
  request: FastifyRequest,
  entry: AuditedRequest,
): Promise<unknown> {
  return ctx.store.audit.append({ ...entry, address: request.ip })
}
