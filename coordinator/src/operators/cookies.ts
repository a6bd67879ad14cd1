/** The session cookie (HttpOnly: scripts cannot read it) and the CSRF cookie (readable by the page, which echoes it). */
export const SESSION_COOKIE = 'fedtune_session'
export const CSRF_COOKIE = 'fedtune_csrf'

/** The value of cookie `name` in a Cookie header (RFC 6265 §5.4), or null. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (header === undefined) return null
  for (const pair of header.split(';')) {
    const at = pair.indexOf('=')
    if (at !== -1 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim()
  }
  return null
}

export type CookieOptions = {
  readonly httpOnly: boolean
  readonly secure: boolean
  /** Seconds until the browser drops it; 0 removes it now. */
  readonly maxAgeSeconds: number
}

/**
 * A Set-Cookie value: SameSite=Strict (a request from another site carries no cookie, the first line
 * of CSRF defence; the CSRF token is the second), Path=/, and Secure when the request came over TLS.
 * `value` is ours (base64url), never the caller's.
 */
export function setCookie(name: string, value: string, o: CookieOptions): string {
  return [
    `${name}=${value}`,
    'Path=/',
    'SameSite=Strict',
    `Max-Age=${Math.max(0, Math.floor(o.maxAgeSeconds))}`,
    ...(o.httpOnly ? ['HttpOnly'] : []),
    ...(o.secure ? ['Secure'] : []),
  ].join('; ')
}
