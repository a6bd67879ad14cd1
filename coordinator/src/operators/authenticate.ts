import type { Repositories } from '../store/open-store.ts'
import { cookieValue, SESSION_COOKIE } from './cookies.ts'
import { type Refusal, refusal } from './refusal.ts'
import { API_TOKEN_PREFIX, secretHash } from './secret-token.ts'
import type { SignedIn } from './signed-in.ts'

/** 32 bytes in base64url, unpadded: what newSecret makes. */
const SECRET = /^[A-Za-z0-9_-]{43}$/
const BEARER = /^Bearer (\S+)$/

export type Authenticated =
  | { readonly ok: true; readonly signedIn: SignedIn | null }
  | { readonly ok: false; readonly refusal: Refusal }

/**
 * Who the request's credentials prove it comes from: an `Authorization: Bearer ftk_…` token first (a
 * script), else the session cookie (a browser), else nobody (null). Credentials that are present but
 * unusable are refused with why: malformed or unknown, a session expired or signed out, a token revoked.
 */
export async function authenticate(
  headers: { readonly authorization?: string | undefined; readonly cookie?: string | undefined },
  store: Pick<Repositories, 'sessions' | 'tokens'>,
  now: Date,
): Promise<Authenticated> {
  if (headers.authorization !== undefined) return bearer(headers.authorization, store)
  const cookie = cookieValue(headers.cookie, SESSION_COOKIE)
  if (cookie === null) return { ok: true, signedIn: null }
  if (!SECRET.test(cookie))
    return refused(
      'bad-credentials',
      `expected the ${SESSION_COOKIE} cookie to hold a session token (43 base64url characters), got ${cookie.length} characters; sign in again (POST /api/session)`,
    )
  const hash = secretHash(cookie)
  const active = await store.sessions.active(hash)
  if (active !== null) return { ok: true, signedIn: { via: 'session', ...active } }
  const session = await store.sessions.byTokenHash(hash)
  if (session === null)
    return refused(
      'bad-credentials',
      'this session is not known to the coordinator (it never signed in here); sign in again (POST /api/session)',
    )
  if (session.revokedAt !== null)
    return refused(
      'session-revoked',
      `this session was signed out at ${session.revokedAt} (by its operator, or by an admin disabling the account); sign in again`,
      session.operator,
    )
  if (Date.parse(session.expiresAt) <= now.getTime())
    return refused(
      'session-expired',
      `this session expired at ${session.expiresAt}; sign in again (POST /api/session)`,
      session.operator,
    )
  return refused('session-revoked', `the account "${session.operator}" is disabled`, session.operator)
}

async function bearer(header: string, store: Pick<Repositories, 'tokens'>): Promise<Authenticated> {
  const token = BEARER.exec(header)?.[1]
  if (
    token === undefined ||
    !token.startsWith(API_TOKEN_PREFIX) ||
    !SECRET.test(token.slice(API_TOKEN_PREFIX.length))
  )
    return refused(
      'bad-credentials',
      `expected "Authorization: Bearer ${API_TOKEN_PREFIX}<43 base64url characters>" (an API token from POST /api/tokens), got an Authorization header of ${header.length} characters that is not one`,
    )
  const hash = secretHash(token)
  const used = await store.tokens.use(hash)
  if (used !== null) return { ok: true, signedIn: { via: 'token', ...used } }
  const known = await store.tokens.byHash(hash)
  if (known === null)
    return refused(
      'bad-credentials',
      'this API token is not known to the coordinator (it was never issued here)',
    )
  if (known.revokedAt === null)
    return refused(
      'token-revoked',
      `the account "${known.operator}" owning API token ${known.id} is disabled`,
      known.operator,
    )
  return refused(
    'token-revoked',
    `API token ${known.id} ("${known.label}") was revoked at ${known.revokedAt}; create a new one (POST /api/tokens)`,
    known.operator,
  )
}

function refused(code: Refusal['code'], message: string, actor?: string): Authenticated {
  return { ok: false, refusal: refusal(401, code, message, actor) }
}
