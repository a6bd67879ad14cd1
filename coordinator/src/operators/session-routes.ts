import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { CSRF_COOKIE, SESSION_COOKIE, setCookie } from './cookies.ts'
import { auditRequest, type OperatorsContext } from './operators-context.ts'
import { decoyHash, PASSWORD_MAX_LENGTH, verifyPassword } from './password.ts'
import { ANONYMOUS } from './refusal.ts'
import { OPERATOR_BODY_LIMIT, parseWith } from './request-body.ts'
import { newSecret, secretHash } from './secret-token.ts'
import type { SignInFailure } from './sign-in-failure.ts'
import { signedInOf } from './signed-in.ts'

const SignIn = z.strictObject({
  name: z.string().min(1).max(200),
  password: z
    .string()
    .min(1)
    .max(PASSWORD_MAX_LENGTH * 4),
})

/** POST /api/session signs in, GET says who is signed in, DELETE signs out. */
export function sessionRoutes(app: FastifyInstance, ctx: OperatorsContext): void {
  app.post(
    '/api/session',
    { config: { access: 'public' }, bodyLimit: OPERATOR_BODY_LIMIT },
    async (request, reply) => signIn(ctx, request, reply),
  )

  app.get('/api/session', { config: { access: 'viewer' } }, async (request) => {
    const who = signedInOf(request)
    return {
      operator: who.operator.name,
      role: who.operator.role,
      via: who.via,
      ...(who.via === 'session' ? { expiresAt: who.session.expiresAt } : { token: who.token.id }),
    }
  })

  app.delete('/api/session', { config: { access: 'viewer' } }, async (request, reply) => {
    const who = signedInOf(request)
    if (who.via !== 'session')
      return reply.code(400).send({
        error: 'bad-request',
        message:
          'expected a request signed in with the session cookie; an API token is revoked with DELETE /api/tokens/<id>',
      })
    await ctx.store.sessions.revoke(who.session.tokenHash)
    await auditRequest(ctx, request, { actor: who.operator.name, action: 'session.sign-out', outcome: 'ok' })
    const secure = secureOf(ctx, request)
    reply.header('set-cookie', [
      setCookie(SESSION_COOKIE, '', { httpOnly: true, secure, maxAgeSeconds: 0 }),
      setCookie(CSRF_COOKIE, '', { httpOnly: false, secure, maxAgeSeconds: 0 }),
    ])
    return { signedOut: true }
  })
}

function secureOf(ctx: OperatorsContext, request: FastifyRequest): boolean {
  return ctx.secureCookies === 'auto' ? request.protocol === 'https' : ctx.secureCookies
}

async function signIn(ctx: OperatorsContext, request: FastifyRequest, reply: FastifyReply) {
  const body = parseWith(SignIn, request.body, 'expected a JSON body { name, password }')
  if (!body.ok) return reply.code(400).send({ error: 'bad-request', message: body.message })
  const { name, password } = body.value
  const now = ctx.now()
  const fail = async (reason: SignInFailure) => {
    ctx.limiter.failed(request.ip, name, now.getTime())
    ctx.onSignInFailed?.(reason)
    await ctx.auditRefused(request, {
      actor: ANONYMOUS,
      action: 'session.sign-in',
      outcome: 'refused',
      target: name,
      detail: { reason },
    })
  }
  const waitMs = ctx.limiter.retryAfterMs(request.ip, name, now.getTime())
  if (waitMs > 0) {
    const seconds = Math.ceil(waitMs / 1000)
    ctx.onSignInFailed?.('rate-limited')
    await ctx.auditRefused(request, {
      actor: ANONYMOUS,
      action: 'session.sign-in',
      outcome: 'refused',
      target: name,
      detail: { reason: 'rate-limited', retryAfterSeconds: seconds },
    })
    return reply
      .code(429)
      .header('retry-after', String(seconds))
      .send({
        error: 'rate-limited',
        message: `too many failed sign-ins from this address or for this name; try again in ${seconds} s`,
      })
  }
  const operator = await ctx.store.operators.byName(name)
  // An unknown name costs one scrypt too, so the answer's timing does not say which names exist.
  const matches = await verifyPassword(password, operator?.passwordHash ?? (await decoyHash()))
  if (operator === null || !matches) {
    await fail(operator === null ? 'unknown-name' : 'wrong-password')
    return reply.code(401).send({ error: 'bad-credentials', message: 'wrong name or password' })
  }
  if (operator.disabledAt !== null) {
    await fail('disabled')
    return reply.code(401).send({
      error: 'account-disabled',
      message: `the account "${name}" was disabled at ${operator.disabledAt}`,
    })
  }
  ctx.limiter.succeeded(name)
  const token = newSecret()
  const csrf = newSecret()
  const expiresAt = new Date(now.getTime() + ctx.sessionMs)
  await ctx.store.sessions.create({
    tokenHash: secretHash(token),
    operator: operator.name,
    csrfHash: secretHash(csrf),
    expiresAt,
    address: request.ip,
  })
  await auditRequest(ctx, request, { actor: operator.name, action: 'session.sign-in', outcome: 'ok' })
  const secure = secureOf(ctx, request)
  const maxAgeSeconds = ctx.sessionMs / 1000
  reply.header('set-cookie', [
    setCookie(SESSION_COOKIE, token, { httpOnly: true, secure, maxAgeSeconds }),
    setCookie(CSRF_COOKIE, csrf, { httpOnly: false, secure, maxAgeSeconds }),
  ])
  return reply.code(201).send({
    operator: operator.name,
    role: operator.role,
    csrfToken: csrf,
    expiresAt: expiresAt.toISOString(),
  })
}
