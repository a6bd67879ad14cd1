import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Store } from '../store/open-store.ts'
import { type Access, allows, changesState, isAccess } from './access.ts'
import { AuditBudget, type AuditBudgetLimits, type Suppressed } from './audit-budget.ts'
import { auditRoutes } from './audit-routes.ts'
import { authenticate } from './authenticate.ts'
import { operatorRoutes } from './operator-routes.ts'
import { type AuditedRequest, auditRequest, type OperatorsContext } from './operators-context.ts'
import { type Refusal, refusal } from './refusal.ts'
import { matchesHash } from './secret-token.ts'
import { sessionRoutes } from './session-routes.ts'
import type { SignInFailure } from './sign-in-failure.ts'
import { DEFAULT_SIGN_IN_LIMITS, SignInLimiter, type SignInLimits } from './sign-in-limiter.ts'
import type { SignedIn } from './signed-in.ts'
import { tokenRoutes } from './token-routes.ts'

export const CSRF_HEADER = 'x-csrf-token'
export const DEFAULT_SESSION_HOURS = 12

/** A registered route and who may call it. */
export type DeclaredRoute = { readonly method: string; readonly url: string; readonly access: Access }

const routeTables = new WeakMap<FastifyInstance, readonly DeclaredRoute[]>()
const refusalAudits = new WeakMap<
  FastifyInstance,
  (request: FastifyRequest, entry: AuditedRequest) => Promise<unknown>
>()

/**
 * Audits a request refused by a route that guards itself (GET /metrics and its token) as the
 * operators' refusals are, within the address's audit budget; undefined on an app without a store.
 */
export function refusalAuditOf(
  app: FastifyInstance,
): ((request: FastifyRequest, entry: AuditedRequest) => Promise<unknown>) | undefined {
  return refusalAudits.get(app)
}

/** Every route registered on `app` (which registerOperators set up), with its declared access, in order. */
export function declaredRoutes(app: FastifyInstance): readonly DeclaredRoute[] {
  const table = routeTables.get(app)
  if (table === undefined) throw new Error('declaredRoutes: registerOperators was not called on this app')
  return table
}

export type OperatorsOptions = {
  /** Where accounts, sessions, tokens and the audit log live; null: no accounts, every non-public route refused. */
  readonly store: Store | null
  /** The clock for session expiry and sign-in windows; give the store the same one. */
  readonly now?: () => Date
  /** Cookies marked Secure always, never, or when the request came over TLS ('auto', the default). */
  readonly secureCookies?: boolean | 'auto'
  readonly sessionHours?: number
  readonly signInLimits?: SignInLimits
  /** How many refused requests per address the audit log records one by one (the rest are summarized). */
  readonly auditBudget?: Partial<AuditBudgetLimits>
  /** Told of each refused sign-in, with why (the coordinator's metrics count them). */
  readonly onSignInFailed?: ((reason: SignInFailure) => void) | undefined
}

/**
 * Operators' access to the app, installed before any route: an onRoute hook that throws for a route
 * declaring no `config.access` (so none is forgotten), one onRequest check that lets each request
 * through only with the access its route declares (401 without usable credentials, 403 with too low a
 * role or without the CSRF token a cookie session owes on POST/PUT/PATCH/DELETE, each audited), and
 * the routes for sessions, API tokens, operators and the audit log. The check runs at onRequest, not
 * later: a refused request has its body neither read nor parsed.
 */
export function registerOperators(app: FastifyInstance, opts: OperatorsOptions): void {
  app.decorateRequest('signedIn', null)
  const declared: DeclaredRoute[] = []
  routeTables.set(app, declared)
  app.addHook('onRoute', (route) => {
    const access = route.config?.access
    if (!isAccess(access))
      throw new Error(
        `route ${String(route.method)} ${route.url} declares no access: give it config: { access: 'public' | 'viewer' | 'operator' | 'admin' }`,
      )
    for (const method of [route.method].flat()) declared.push({ method, url: route.url, access })
  })
  const store = opts.store
  const now = opts.now ?? (() => new Date())
  // A flood of refused requests costs the audit log one summary row per address and window, not a row each.
  const budget = new AuditBudget(opts.auditBudget)
  const summarize = async (ended: readonly Suppressed[]) => {
    for (const s of ended)
      await store?.audit.append({
        actor: 'system',
        address: s.address,
        action: 'access.refused.summary',
        outcome: 'refused',
        detail: { refusals: s.count, since: new Date(s.since).toISOString() },
      })
  }
  if (store !== null) {
    const windowMs = opts.auditBudget?.windowMs ?? 60_000
    const sweep = setInterval(
      () => void summarize(budget.sweep(now().getTime())).catch(() => undefined),
      windowMs,
    )
    sweep.unref()
    app.addHook('onClose', async () => {
      clearInterval(sweep)
      // every window still open is over with the app: its refusals past the budget are written
      await summarize(budget.sweep(Number.POSITIVE_INFINITY)).catch(() => undefined)
    })
  }
  const auditRefused = async (on: Store, request: FastifyRequest, entry: AuditedRequest) => {
    const { write, ended } = budget.take(request.ip, now().getTime())
    await summarize(ended)
    if (write) await auditRequest({ store: on }, request, entry)
  }
  app.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config.access
    // No route matched (a 404), or one anyone may call.
    if (access === undefined || access === 'public') return
    if (store === null)
      return refuse(
        reply,
        refusal(
          401,
          'no-accounts',
          `${request.method} ${request.routeOptions.url} needs a signed-in ${access}, and this coordinator has no operator accounts (it was started without a database)`,
        ),
      )
    const checked = await check(request, access, store, now())
    if (checked.ok) {
      request.signedIn = checked.signedIn
      return
    }
    await auditRefused(store, request, {
      actor: checked.refusal.actor,
      action: 'access.refused',
      outcome: 'refused',
      target: `${request.method} ${request.routeOptions.url}`,
      detail: { code: checked.refusal.code, status: checked.refusal.status },
    })
    return refuse(reply, checked.refusal)
  })
  if (store === null) return
  refusalAudits.set(app, (request, entry) => auditRefused(store, request, entry))
  const ctx: OperatorsContext = {
    store,
    now,
    limiter: new SignInLimiter(opts.signInLimits ?? DEFAULT_SIGN_IN_LIMITS),
    sessionMs: (opts.sessionHours ?? DEFAULT_SESSION_HOURS) * 3_600_000,
    secureCookies: opts.secureCookies ?? 'auto',
    auditRefused: (request, entry) => auditRefused(store, request, entry),
    onSignInFailed: opts.onSignInFailed,
  }
  sessionRoutes(app, ctx)
  tokenRoutes(app, ctx)
  operatorRoutes(app, ctx)
  auditRoutes(app, ctx)
}

type Checked =
  | { readonly ok: true; readonly signedIn: SignedIn }
  | { readonly ok: false; readonly refusal: Refusal }

const ROLE_WORDS: Readonly<Record<Exclude<Access, 'public'>, string>> = {
  viewer: 'the viewer role or higher',
  operator: 'the operator role or admin',
  admin: 'the admin role',
}

async function check(
  request: FastifyRequest,
  access: Exclude<Access, 'public'>,
  store: Store,
  now: Date,
): Promise<Checked> {
  const route = `${request.method} ${request.routeOptions.url}`
  const auth = await authenticate(request.headers, store, now)
  if (!auth.ok) return auth
  const who = auth.signedIn
  if (who === null)
    return {
      ok: false,
      refusal: refusal(
        401,
        'unauthenticated',
        `${route} needs ${ROLE_WORDS[access]}: sign in (POST /api/session) or send "Authorization: Bearer <API token>"`,
      ),
    }
  const { name, role } = who.operator
  if (!allows(role, access))
    return {
      ok: false,
      refusal: refusal(
        403,
        'forbidden',
        `${route} needs ${ROLE_WORDS[access]}; "${name}" is a ${role}`,
        name,
      ),
    }
  if (who.via === 'session' && changesState(request.method)) {
    const sent = request.headers[CSRF_HEADER]
    if (typeof sent !== 'string' || sent === '')
      return {
        ok: false,
        refusal: refusal(
          403,
          'csrf-missing',
          `${route} changes state: with a session cookie it needs the ${CSRF_HEADER} header (the csrfToken of the sign-in, also in the fedtune_csrf cookie), got none`,
          name,
        ),
      }
    if (!matchesHash(sent, who.session.csrfHash))
      return {
        ok: false,
        refusal: refusal(
          403,
          'csrf-mismatch',
          `${route} changes state: the ${CSRF_HEADER} header does not match this session's CSRF token (the csrfToken of the sign-in)`,
          name,
        ),
      }
  }
  return { ok: true, signedIn: who }
}

function refuse(reply: FastifyReply, r: Refusal): FastifyReply {
  if (r.status === 401)
    reply.header(
      'www-authenticate',
      r.code === 'unauthenticated' || r.code === 'no-accounts'
        ? 'Bearer realm="fedtune"'
        : 'Bearer realm="fedtune", error="invalid_token"',
    )
  return reply.code(r.status).send({ error: r.code, message: r.message })
}
