import http from 'node:http'
import https from 'node:https'
import { isIP, isIPv6, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import tls from 'node:tls'
import { ConnectionError } from './connection-error.ts'

/** A proxy URL fit for messages: its credentials (user:password@) left out. */
export function redactedProxy(proxy: URL): string {
  return `${proxy.protocol}//${proxy.host}`
}

/**
 * An HTTP(S) agent whose every connection goes through `proxy` by an HTTP CONNECT tunnel
 * (RFC 9110 §9.3.6), TLS to the coordinator then running inside the tunnel end to end: the proxy
 * sees the coordinator's name and port, never the traffic. A proxy that refuses the tunnel fails
 * the request with a ConnectionError naming the proxy (without credentials) and its status,
 * rather than passing the proxy's own answer off as the coordinator's.
 */
export function tunnellingAgent(proxy: URL, secure: boolean): http.Agent {
  const agent = secure ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false })
  const tunnelled = (
    options: tls.ConnectionOptions & { host?: string | null; port?: number | string | null },
    callback: (error: Error | null, socket?: Duplex) => void,
  ): undefined => {
    const host = options.host ?? 'localhost'
    const port = Number(options.port ?? (secure ? 443 : 80))
    tunnel(proxy, host, port).then(
      (socket) => {
        if (!secure) return callback(null, socket)
        // SNI takes a name, never an address (RFC 6066 §3); the certificate is checked against `host`
        const servername = isIP(host) === 0 ? host : undefined
        const { servername: _ignored, ...rest } = options
        callback(null, tls.connect({ ...rest, host, socket, ...(servername ? { servername } : {}) }))
      },
      (error: Error) => callback(error),
    )
    return undefined
  }
  // Node's agents accept a createConnection that answers through its callback (the tunnel is async).
  ;(agent as unknown as { createConnection: typeof tunnelled }).createConnection = tunnelled
  return agent
}

/** Opens a CONNECT tunnel to host:port through `proxy`; resolves with the raw socket once it answers 200. */
function tunnel(proxy: URL, host: string, port: number): Promise<Socket> {
  const target = `${isIPv6(host) ? `[${host}]` : host}:${port}`
  const where = redactedProxy(proxy)
  return new Promise((resolve, reject) => {
    const authorization =
      proxy.username === ''
        ? {}
        : {
            'proxy-authorization': `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`,
          }
    const request = (proxy.protocol === 'https:' ? https : http).request({
      host: proxy.hostname.replace(/^\[|\]$/g, ''),
      port: proxy.port === '' ? (proxy.protocol === 'https:' ? 443 : 80) : Number(proxy.port),
      method: 'CONNECT',
      path: target,
      headers: { host: target, ...authorization },
      agent: false,
    })
    const refused = (status: number, text: string | undefined) =>
      new ConnectionError(
        'proxy-refused',
        `the proxy ${where} refused the tunnel to ${target}: ${status} ${text ?? ''}`.trimEnd(),
        status,
      )
    request.once('connect', (response, socket) => {
      if (response.statusCode === 200) return resolve(socket)
      socket.destroy()
      reject(refused(response.statusCode ?? 0, response.statusMessage))
    })
    // a proxy that answers a CONNECT as an ordinary request
    request.once('response', (response) => {
      response.resume()
      reject(refused(response.statusCode ?? 0, response.statusMessage))
    })
    request.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new ConnectionError(
          'proxy-unreachable',
          `cannot reach the proxy ${where} (${error.code ?? error.message})`,
        ),
      ),
    )
    request.end()
  })
}
