import { createHash, timingSafeEqual } from 'node:crypto'

/** The shortest metrics token taken: one guessable by trying is no guard. */
export const METRICS_TOKEN_MIN_LENGTH = 16

/** Why `token` cannot guard /metrics, or null when it can. */
export function metricsTokenProblem(token: string): string | null {
  if (token.length < METRICS_TOKEN_MIN_LENGTH)
    return `expected a metrics token of at least ${METRICS_TOKEN_MIN_LENGTH} characters, got ${token.length}`
  if (/\s/.test(token))
    return 'expected a metrics token without whitespace (it goes in an Authorization header)'
  return null
}

/**
 * Whether an Authorization header carries `Bearer <token>`, in time that does not depend on where
 * they differ: both sides are hashed first, so even their lengths are compared in constant time.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const sent = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : ''
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest()
  return timingSafeEqual(digest(sent), digest(token)) && sent !== ''
}
