/**
 * Why the client could not reach the coordinator safely, said so the user can act on it:
 * - 'name-mismatch', 'untrusted', 'expired', 'pin-mismatch', 'tls': the coordinator's certificate
 *   did not verify. Final: retrying meets the same certificate, and the client never falls back to
 *   an unverified connection.
 * - 'proxy-refused': the proxy answered the tunnel with an error status (`status`).
 * - 'proxy-unreachable': the proxy itself could not be reached.
 */
export type ConnectionErrorCode =
  | 'name-mismatch'
  | 'untrusted'
  | 'expired'
  | 'pin-mismatch'
  | 'tls'
  | 'proxy-refused'
  | 'proxy-unreachable'

export class ConnectionError extends Error {
  readonly code: ConnectionErrorCode
  /** The proxy's HTTP status, for 'proxy-refused'. */
  readonly status: number | undefined

  constructor(code: ConnectionErrorCode, message: string, status?: number) {
    super(message)
    this.name = 'ConnectionError'
    this.code = code
    this.status = status
  }

  /** The coordinator's certificate did not verify: nothing a retry can change. */
  get untrustedCoordinator(): boolean {
    return this.code !== 'proxy-refused' && this.code !== 'proxy-unreachable'
  }
}
