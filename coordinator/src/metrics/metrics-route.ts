import type { FastifyInstance } from 'fastify'
import { ANONYMOUS } from '../operators/refusal.ts'
import { refusalAuditOf } from '../operators/register-operators.ts'
import type { CoordinatorMetrics } from './coordinator-metrics.ts'
import { bearerMatches } from './metrics-token.ts'

/** What the main port does with /metrics: the coordinator's metrics, and the token that reads them there. */
export type MetricsExposure = {
  readonly metrics: CoordinatorMetrics
  /** Without one, the main port serves no metrics (a metrics address may). */
  readonly token?: string | undefined
}

const HOW_TO_ENABLE =
  'start the coordinator with --metrics-token-file <file> (then send "Authorization: Bearer <that token>") or with --metrics-address <host:port> (a port of their own, for Prometheus alone)'

/**
 * GET /metrics on the main port: Prometheus' text, for a request that carries the metrics token
 * (its own bearer token, not an operator's: the route is 'public' to the operators' check and
 * guards itself). Without a token configured it answers 404 saying how to enable it; a missing or
 * wrong token is 401, audited as the operators' refusals are (within the audit budget). Every
 * answered request is counted in fedtune_http_requests_total.
 */
export function metricsRoute(app: FastifyInstance, exposure: MetricsExposure | undefined): void {
  if (exposure !== undefined) {
    const { httpRequests } = exposure.metrics
    app.addHook('onResponse', async (request, reply) => {
      httpRequests.inc({
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      })
    })
  }
  app.get('/metrics', { config: { access: 'public' } }, async (request, reply) => {
    const token = exposure?.token
    if (exposure === undefined || token === undefined)
      return reply.code(404).send({
        error: 'not-found',
        message: `this port serves no metrics: ${HOW_TO_ENABLE}`,
      })
    const header = request.headers.authorization
    if (!bearerMatches(header, token)) {
      const code = header === undefined ? 'unauthenticated' : 'bad-credentials'
      await refusalAuditOf(app)?.(request, {
        actor: ANONYMOUS,
        action: 'access.refused',
        outcome: 'refused',
        target: `${request.method} /metrics`,
        detail: { code, status: 401 },
      })
      return reply
        .code(401)
        .header(
          'www-authenticate',
          header === undefined
            ? 'Bearer realm="fedtune-metrics"'
            : 'Bearer realm="fedtune-metrics", error="invalid_token"',
        )
        .send({
          error: code,
          message:
            header === undefined
              ? 'GET /metrics needs "Authorization: Bearer <metrics token>", the token in the file the coordinator was started with (--metrics-token-file)'
              : 'expected "Authorization: Bearer <metrics token>" with the token of --metrics-token-file; the one sent does not match',
        })
    }
    const { registry } = exposure.metrics
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}
