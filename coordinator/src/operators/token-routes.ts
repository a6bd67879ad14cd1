import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { ApiToken } from '../store/api-tokens.ts'
import { auditRequest, type OperatorsContext } from './operators-context.ts'
import { OPERATOR_BODY_LIMIT, parseWith } from './request-body.ts'
import { API_TOKEN_PREFIX, newSecret, secretHash } from './secret-token.ts'
import { signedInOf } from './signed-in.ts'

const NewToken = z.strictObject({ label: z.string().min(1).max(200) })
const TokenId = z.strictObject({
  id: z.string().regex(/^[1-9][0-9]{0,9}$/, 'expected a token id (decimal digits)'),
})

/** What the API shows of a token: never the token, nor its hash. */
export function tokenView(t: ApiToken) {
  return {
    id: t.id,
    operator: t.operator,
    label: t.label,
    createdAt: t.createdAt,
    revokedAt: t.revokedAt,
    lastUsedAt: t.lastUsedAt,
  }
}

/**
 * API tokens for scripts: any operator creates, lists and revokes their own (a token is shown once, at
 * creation); an admin lists and revokes everyone's.
 */
export function tokenRoutes(app: FastifyInstance, ctx: OperatorsContext): void {
  app.post(
    '/api/tokens',
    { config: { access: 'viewer' }, bodyLimit: OPERATOR_BODY_LIMIT },
    async (request, reply) => {
      const who = signedInOf(request)
      const body = parseWith(NewToken, request.body, 'expected a JSON body { label }')
      if (!body.ok) return reply.code(400).send({ error: 'bad-request', message: body.message })
      const token = newSecret(API_TOKEN_PREFIX)
      const stored = await ctx.store.tokens.add({
        operator: who.operator.name,
        label: body.value.label,
        tokenHash: secretHash(token),
      })
      await auditRequest(ctx, request, {
        actor: who.operator.name,
        action: 'token.create',
        outcome: 'ok',
        target: `token ${stored.id}`,
        detail: { label: stored.label },
      })
      return reply.code(201).send({ ...tokenView(stored), token })
    },
  )

  app.get('/api/tokens', { config: { access: 'viewer' } }, async (request) => {
    const who = signedInOf(request)
    const tokens = await ctx.store.tokens.list(who.operator.role === 'admin' ? undefined : who.operator.name)
    return { tokens: tokens.map(tokenView) }
  })

  app.delete('/api/tokens/:id', { config: { access: 'viewer' } }, async (request, reply) => {
    const who = signedInOf(request)
    const params = parseWith(TokenId, request.params, 'expected /api/tokens/<id>')
    if (!params.ok) return reply.code(400).send({ error: 'bad-request', message: params.message })
    const id = Number(params.value.id)
    const token = await ctx.store.tokens.byId(id)
    // Someone else's token is as absent as one that never existed, unless the caller is an admin.
    if (token === null || (token.operator !== who.operator.name && who.operator.role !== 'admin')) {
      await auditRequest(ctx, request, {
        actor: who.operator.name,
        action: 'token.revoke',
        outcome: 'refused',
        target: `token ${id}`,
        detail: { reason: 'not-found' },
      })
      return reply.code(404).send({ error: 'not-found', message: `you have no API token ${id}` })
    }
    const revoked = await ctx.store.tokens.revoke(id)
    await auditRequest(ctx, request, {
      actor: who.operator.name,
      action: 'token.revoke',
      outcome: 'ok',
      target: `token ${id}`,
      detail: { owner: token.operator, label: token.label },
    })
    return tokenView(revoked)
  })
}
