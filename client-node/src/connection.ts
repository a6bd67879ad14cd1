import http from 'node:http'
import https from 'node:https'
import tls, { type PeerCertificate } from 'node:tls'
import type { FetchUrl } from '@fedtune/model/node'
import { ConnectionError } from './connection-error.ts'
import { redactedProxy, tunnellingAgent } from './proxy-tunnel.ts'
import { systemCaBundle } from './system-ca.ts'

/** What the user said about reaching the coordinator (`--ca`, `--pin-sha256`, `--proxy`), already read. */
export type NetworkSettings = {
  /** CAs to trust instead of Node's built-in list: the PEM text and the file it came from. */
  readonly ca?: { readonly file: string; readonly pem: string } | undefined
  /** The SHA-256 of the coordinator's leaf certificate, 32 uppercase hex pairs joined by ':'. */
  readonly pinSha256?: string | undefined
  /** An http(s):// proxy, said on the command line; it wins over the environment. */
  readonly proxy?: string | undefined
  /** Where the system's CA bundle may be, trusted beside Node's list when there is no `ca` (system-ca.ts). */
  readonly systemCaFiles?: readonly string[] | undefined
}

/**
 * How this client reaches its coordinator: one trust (CA list, pin, name check) and one proxy for
 * both the websocket and the backbone download, so the two can never disagree about whom they
 * talk to. Verification is never turned off.
 */
export type Connection = {
  /** The proxy in use, credentials left out; null for a direct connection. */
  readonly proxy: string | null
  /** Whom the coordinator's certificate must be signed by, for messages. */
  readonly trust: string
  /** Options for socket.io-client: its Node websocket transport hands them to `ws`, then to TLS. */
  readonly socketOptions: Readonly<Record<string, unknown>>
  /** GET of a URL on the coordinator's origin, through the same proxy with the same trust. */
  readonly fetch: FetchUrl
  /** The ConnectionError behind a failed connection (socket.io's connect_error, a request's error), if any. */
  failureOf(error: unknown): ConnectionError | null
}

/** A --ca, --pin-sha256 or --proxy (or *_PROXY variable) that cannot be used: the command line's to fix. */
export class NetworkSettingsError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'NetworkSettingsError'
  }
}

/** --pin-sha256: 64 hex digits, with or without ':' between the pairs, in the form Node prints fingerprints. */
export function parsePin(text: string): string {
  const hex = text.replace(/:/g, '')
  if (
    !/^[0-9a-fA-F]{64}$/.test(hex) ||
    (text.includes(':') && !/^([0-9a-fA-F]{2}:){31}[0-9a-fA-F]{2}$/.test(text))
  )
    throw new NetworkSettingsError(
      `--pin-sha256: expected the certificate's SHA-256 as 64 hex digits, optionally as pairs joined by ':' (openssl x509 -noout -fingerprint -sha256), got ${JSON.stringify(text)}`,
    )
  return hex.toUpperCase().replace(/(..)(?!$)/g, '$1:')
}

/**
 * The proxy for `target`: `explicit` (--proxy) if given, else HTTPS_PROXY / https_proxy for an
 * https:// coordinator and HTTP_PROXY / http_proxy for an http:// one, unless NO_PROXY / no_proxy
 * names the host ("*", a name, ".suffix" or "suffix" matching it and its subdomains, optionally
 * with ":port"). Null: connect directly.
 */
export function proxyFor(target: URL, explicit: string | undefined, env: NodeJS.ProcessEnv): URL | null {
  const secure = target.protocol === 'https:'
  const [text, from] =
    explicit !== undefined
      ? [explicit, '--proxy']
      : secure
        ? [env.HTTPS_PROXY ?? env.https_proxy, env.HTTPS_PROXY === undefined ? 'https_proxy' : 'HTTPS_PROXY']
        : [env.HTTP_PROXY ?? env.http_proxy, env.HTTP_PROXY === undefined ? 'http_proxy' : 'HTTP_PROXY']
  if (text === undefined || text === '') return null
  if (explicit === undefined && bypassed(target, env.NO_PROXY ?? env.no_proxy ?? '')) return null
  let proxy: URL
  try {
    proxy = new URL(text)
  } catch {
    throw new NetworkSettingsError(
      `${from}: expected a proxy URL such as http://proxy.example:3128, got ${JSON.stringify(text)}`,
    )
  }
  if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:')
    throw new NetworkSettingsError(
      `${from}: expected an http:// or https:// proxy (one that speaks HTTP CONNECT), got ${redactedProxy(proxy)}`,
    )
  return proxy
}

function bypassed(target: URL, noProxy: string): boolean {
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const port = target.port || (target.protocol === 'https:' ? '443' : '80')
  return noProxy
    .split(/[,\s]+/)
    .filter((entry) => entry !== '')
    .some((entry) => {
      if (entry === '*') return true
      const [name = '', entryPort] = entry
        .toLowerCase()
        .replace(/^\*/, '')
        .split(/:(?=\d+$)/)
      if (entryPort !== undefined && entryPort !== port) return false
      const bare = name.replace(/^\./, '')
      return host === bare || host.endsWith(`.${bare}`)
    })
}

/** The connection to `coordinatorUrl` that `settings` and the environment ask for. */
export function connectionTo(
  coordinatorUrl: string,
  settings: NetworkSettings = {},
  env: NodeJS.ProcessEnv = process.env,
): Connection {
  const origin = new URL(coordinatorUrl)
  const secure = origin.protocol === 'https:'
  if (!secure && (settings.ca !== undefined || settings.pinSha256 !== undefined))
    throw new NetworkSettingsError(
      `${settings.ca === undefined ? '--pin-sha256' : '--ca'}: the coordinator ${origin.origin} is plain http://, which has no certificate to verify; use its https:// URL`,
    )
  const proxyUrl = proxyFor(origin, settings.proxy, env)
  // Without --ca: Node's list and the system's bundle, where a hospital's IT puts its own CA.
  const system = settings.ca === undefined ? systemCaBundle(settings.systemCaFiles) : undefined
  const trustedBy =
    settings.ca !== undefined
      ? `the CA file ${settings.ca.file}`
      : system === undefined
        ? "Node's built-in CA list (NODE_EXTRA_CA_CERTS adds to it)"
        : `Node's built-in CA list and the system's ${system.file} (NODE_EXTRA_CA_CERTS adds to them)`
  const ca =
    settings.ca !== undefined
      ? settings.ca.pem
      : system === undefined
        ? undefined
        : [...tls.rootCertificates, system.pem]
  const trust = {
    rejectUnauthorized: true,
    ...(ca === undefined ? {} : { ca }),
    checkServerIdentity: (host: string, cert: PeerCertificate) =>
      checkCoordinator(host, cert, settings.pinSha256),
  }
  const agent = proxyUrl
    ? tunnellingAgent(proxyUrl, secure)
    : secure
      ? new https.Agent({ keepAlive: false })
      : undefined
  const failureOf = (error: unknown) => connectionFailure(error, trustedBy)
  return {
    proxy: proxyUrl === null ? null : redactedProxy(proxyUrl),
    trust: secure ? trustedBy : 'none (plain http://)',
    socketOptions: {
      ...(agent === undefined ? {} : { agent }),
      ...(secure ? trust : {}),
    },
    failureOf,
    fetch: (url) =>
      new Promise((resolve, reject) => {
        const target = new URL(url)
        if (target.origin !== origin.origin)
          return reject(
            new Error(`expected a URL on the coordinator's origin ${origin.origin}, got ${target.origin}`),
          )
        const request = (secure ? https : http).get(
          target,
          { ...(agent === undefined ? {} : { agent }), ...(secure ? trust : {}) },
          (response) =>
            resolve({
              ok:
                response.statusCode !== undefined && response.statusCode >= 200 && response.statusCode < 300,
              status: response.statusCode ?? 0,
              statusText: response.statusMessage ?? '',
              body: response,
            }),
        )
        request.once('error', (error) => reject(failureOf(error) ?? error))
      }),
  }
}

/**
 * Node's own name check (RFC 6125, as `tls.checkServerIdentity`), then the pin: the SHA-256 of the
 * leaf certificate's DER bytes. Each refusal names both sides.
 */
function checkCoordinator(host: string, cert: PeerCertificate, pin: string | undefined): Error | undefined {
  const wrongName = tls.checkServerIdentity(host, cert)
  if (wrongName !== undefined)
    return new ConnectionError(
      'name-mismatch',
      `the coordinator's certificate is for ${namesOf(cert)}, not ${host}: connect by one of those names, or have its operator issue a certificate for ${host}`,
    )
  if (pin !== undefined && cert.fingerprint256 !== pin)
    return new ConnectionError(
      'pin-mismatch',
      `the coordinator's certificate has SHA-256 fingerprint ${cert.fingerprint256}, not the pinned ${pin}: if its operator renewed the certificate, confirm the new fingerprint with them and pass it to --pin-sha256`,
    )
  return undefined
}

function namesOf(cert: PeerCertificate): string {
  const alt = cert.subjectaltname
  if (alt !== undefined && alt !== '') return alt.replace(/(DNS|IP Address):/g, '')
  return cert.subject?.CN === undefined ? '(no name)' : String(cert.subject.CN)
}

/** OpenSSL's verification codes for a chain that ends at no trusted CA. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
])

/**
 * The ConnectionError in `error`'s chain: socket.io wraps the transport's error (`description`),
 * `ws` wraps Node's (`error`), fetch-like callers put it in `cause`. Node's verification codes are
 * said in words here, with where the trust came from.
 */
function connectionFailure(error: unknown, trustedBy: string): ConnectionError | null {
  const seen = new Set<unknown>()
  let current: unknown = error
  while (typeof current === 'object' && current !== null && !seen.has(current)) {
    seen.add(current)
    if (current instanceof ConnectionError) return current
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string') {
      if (UNTRUSTED.has(code))
        return new ConnectionError(
          'untrusted',
          `the coordinator's certificate is not signed by a CA in ${trustedBy} (${code}); pass --ca <file> with the CA that issued it`,
        )
      if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')
        return new ConnectionError(
          'expired',
          `the coordinator's certificate is ${code === 'CERT_HAS_EXPIRED' ? 'expired' : 'not yet valid'} (${code}); its operator must renew it`,
        )
      if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.startsWith('CERT_'))
        return new ConnectionError(
          'tls',
          `TLS with the coordinator failed (${code}: ${(current as Error).message})`,
        )
    }
    const next = current as { description?: unknown; error?: unknown; cause?: unknown }
    current = next.description ?? next.error ?? next.cause
  }
  return null
}

/**
 * Whether a failed connection ends the client: an untrusted coordinator always; a proxy that refuses
 * the tunnel for a reason of its own (4xx: denied, wants credentials) always; an unreachable proxy
 * before the first join (a wrong --proxy). A proxy's 5xx (it cannot reach the coordinator, which may
 * be restarting) and a proxy lost mid-run are retried like an unreachable coordinator.
 */
export function stopsAt(failure: ConnectionError, joinedBefore: boolean): boolean {
  if (failure.untrustedCoordinator) return true
  if (failure.code === 'proxy-refused') return (failure.status ?? 0) < 500
  return !joinedBefore
}
