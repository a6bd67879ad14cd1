import { describe } from '@fedtune/protocol'

/**
 * Why a console's handshake from `origin` is refused, or null when it may connect: a browser's
 * handshake must come from the coordinator's own origin (the Host it was sent to, or the proxy's
 * X-Forwarded-Host when proxies are believed). The session cookie is SameSite=Strict already; this
 * refuses a foreign page even so. A handshake with no Origin is not a browser's (a script with a token).
 */
export function originProblem(
  headers: {
    readonly origin?: string | undefined
    readonly host?: string | undefined
    readonly 'x-forwarded-host'?: string | string[] | undefined
  },
  trustForwarded: boolean,
): string | null {
  const { origin } = headers
  if (origin === undefined) return null
  const forwarded = headers['x-forwarded-host']
  const host =
    trustForwarded && typeof forwarded === 'string' ? forwarded.split(',')[0]?.trim() : headers.host
  if (!URL.canParse(origin))
    return `expected the Origin of the coordinator's own page, got an Origin that is no URL: ${describe(origin)}`
  const from = new URL(origin).host
  if (host !== undefined && from === host) return null
  return `expected a console page served by this coordinator (origin host ${describe(host ?? '(none)')}), got one from ${describe(origin)}`
}
