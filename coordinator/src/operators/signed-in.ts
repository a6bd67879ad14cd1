import type { ApiToken } from '../store/api-tokens.ts'
import type { Operator } from '../store/operators.ts'
import type { Session } from '../store/sessions.ts'

/** Who made a request, and how they proved it: a browser session (cookie) or a script's API token. */
export type SignedIn =
  | { readonly via: 'session'; readonly operator: Operator; readonly session: Session }
  | { readonly via: 'token'; readonly operator: Operator; readonly token: ApiToken }

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the access check on every non-public route; null on public ones. */
    signedIn: SignedIn | null
  }
}

/** The signed-in operator of a route that declared viewer access or more (the access check guarantees one). */
export function signedInOf(request: { readonly signedIn: SignedIn | null }): SignedIn {
  if (request.signedIn === null)
    throw new Error('signedInOf: a route reading its operator must declare viewer, operator or admin access')
  return request.signedIn
}
