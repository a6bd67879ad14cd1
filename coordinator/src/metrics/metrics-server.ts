import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'

/** Where `--metrics-address` listens: a port of its own, without a token, for Prometheus alone. */
export type MetricsAddress = { readonly host: string; readonly port: number }

export type MetricsServer = {
  /** http://host:port/metrics, the port chosen when 0 was asked for. */
  readonly url: string
  close(): Promise<void>
}

/**
 * A small HTTP server answering GET (and HEAD) /metrics with `registry`'s text and 404 to anything
 * else. It has no authentication: the operator binds it where only Prometheus reaches.
 */
export async function serveMetrics(registry: Registry, address: MetricsAddress): Promise<MetricsServer> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0]
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
      response.end(`this port serves only GET /metrics; got ${request.method} ${JSON.stringify(path)}\n`)
      return
    }
    registry.metrics().then(
      (text) => {
        response.writeHead(200, { 'content-type': registry.contentType })
        response.end(request.method === 'HEAD' ? undefined : text)
      },
      (error: Error) => {
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
        response.end(`collecting the metrics failed: ${error.message}\n`)
      },
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(address.port, address.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { address: host, port, family } = server.address() as AddressInfo
  return {
    url: `http://${family === 'IPv6' ? `[${host}]` : host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((error) => (error ? reject(error) : resolve()))
      }),
  }
}
