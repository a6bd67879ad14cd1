import type { Access, DeclaredRoute } from '@fedtune/coordinator/operators'
import {
  API_TOKEN_PREFIX,
  CSRF_COOKIE,
  declaredRoutes,
  newSecret,
  registerOperators,
  SESSION_COOKIE,
  secretHash,
} from '@fedtune/coordinator/operators'
import type { OperatorRole, Store } from '@fedtune/coordinator/store'
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCoordinator, type TestCoordinator } from '../harness.ts'
import { addOperator, bearerFor, openTestStore, TEST_PASSWORD } from '../test-store.ts'

/**
 * Who may call what: every route of the coordinator's app, as registered, called by nobody and by each
 * role, with a session cookie and with an API token, answers as its declared access says; and each way
 * of being refused has its own status, message and audit row.
 */

const ROLES: readonly OperatorRole[] = ['viewer', 'operator', 'admin']
const RANK: Record<Access, number> = { public: 0, viewer: 1, operator: 2, admin: 3 }

type Headers = Record<string, string>

/** A session made in the store as a sign-in makes it: the cookie and CSRF header a browser would send. */
async function sessionFor(store: Store, operator: string, expiresAt = new Date(Date.now() + 3_600_000)) {
  const token = newSecret()
  const csrf = newSecret()
  await store.sessions.create({
    tokenHash: secretHash(token),
    operator,
    csrfHash: secretHash(csrf),
    expiresAt,
    address: null,
  })
  return { cookie: `${SESSION_COOKIE}=${token}; ${CSRF_COOKIE}=${csrf}`, 'x-csrf-token': csrf }
}

/** A route's URL with every parameter filled with something it may hold. */
function concrete(route: DeclaredRoute, digest: string): string {
  return route.url
    .replace(':digest', digest)
    .replace('/*', '/model.json')
    .replace(':round', '0')
    .replace(':name', 'nobody')
    .replace(':id', '999999')
}

let store: Store
let h: TestCoordinator
let routes: readonly DeclaredRoute[]

beforeAll(async () => {
  store = await openTestStore()
  // The walk below is hundreds of refusals from one address in a minute: each must be audited here,
  // so the audit budget (a row each for the first 60, then a summary) is set past them.
  h = await startTestCoordinator({ store, operators: { auditBudget: { perAddress: 100_000 } } })
  await h.app.ready()
  routes = declaredRoutes(h.app)
})
afterAll(async () => {
  await h.close()
  await store.close()
})

const lastAudit = async () => (await store.audit.list({ newestFirst: true, limit: 1 }))[0]

describe('the route table × {anonymous, viewer, operator, admin} × {session cookie, API token}', () => {
  it('holds the backbone, the page and its task as public, the run as viewer, operators and the audit log as admin', () => {
    const access = (method: string, url: string) =>
      routes.find((r) => r.method === method && r.url === url)?.access
    expect(access('GET', '/backbone/:digest/*')).toBe('public')
    const page = routes.filter((r) => r.url.startsWith('/join'))
    expect(page.length).toBeGreaterThan(0)
    for (const r of page) expect(r.access).toBe('public')
    // the console's page holds no data: what it shows comes from routes that need a session
    const console = routes.filter((r) => r.url.startsWith('/console'))
    expect(console.map((r) => `${r.method} ${r.url}`)).toContain('GET /console')
    for (const r of console) expect(r.access).toBe('public')
    expect(access('GET', '/api/task')).toBe('public')
    expect(access('POST', '/api/session')).toBe('public')
    // The volunteers' page shows the chart of the run; the records and heads are for operators.
    expect(access('GET', '/api/rounds.svg')).toBe('public')
    for (const url of ['/api/status', '/api/rounds', '/api/rounds/:round/head'])
      expect(access('GET', url)).toBe('viewer')
    for (const [method, url] of [
      ['GET', '/api/operators'],
      ['POST', '/api/operators'],
      ['PATCH', '/api/operators/:name'],
      ['GET', '/api/audit'],
    ] as const)
      expect(access(method, url)).toBe('admin')
    // tasks and runs: operators act, viewers read
    for (const url of [
      '/api/tasks',
      '/api/tasks/:task',
      '/api/tasks/:task/runs',
      '/api/runs',
      '/api/runs/:id/rounds',
      '/api/runs/:id/model',
    ])
      expect(access('GET', url)).toBe('viewer')
    for (const action of ['start', 'pause', 'resume', 'stop', 'abort', 'extend'])
      expect(access('POST', `/api/tasks/:task/${action}`)).toBe('operator')
    expect(access('POST', '/api/tasks')).toBe('operator')
    // Prometheus' scrape: public to the operators' check, as it guards itself with the metrics token
    // (metrics/metrics-route.ts); without one configured, as here, it answers 404
    expect(access('GET', '/metrics')).toBe('public')
    // HEAD routes come with every GET route, and are checked like it below.
    expect(routes.length).toBeGreaterThan(20)
  })

  it('answers every route as its declared access says, for every caller and both kinds of credentials', async () => {
    const bearers = new Map<OperatorRole, Headers>()
    for (const role of ROLES) bearers.set(role, await bearerFor(store, role, `table-${role}`))
    const checked: string[] = []
    for (const route of routes) {
      const url = concrete(route, h.digest)
      const body = ['POST', 'PUT', 'PATCH'].includes(route.method) ? {} : undefined
      const call = (headers: Headers) =>
        h.app.inject({ method: route.method as 'GET', url, headers, ...(body ? { payload: body } : {}) })
      const anonymous = await call({})
      const where = `${route.method} ${route.url} (${route.access})`
      if (route.access === 'public') expect([401, 403], where).not.toContain(anonymous.statusCode)
      else {
        expect(anonymous.statusCode, where).toBe(401)
        expect(anonymous.headers['www-authenticate'], where).toBe('Bearer realm="fedtune"')
      }
      for (const role of ROLES)
        for (const via of ['session', 'token'] as const) {
          // A fresh session each time: DELETE /api/session signs the one it is called with out.
          const headers =
            via === 'token' ? (bearers.get(role) as Headers) : await sessionFor(store, `table-${role}`)
          const answer = await call(headers)
          const who = `${where} as ${role} by ${via}`
          if (RANK[role] >= RANK[route.access]) expect([401, 403], who).not.toContain(answer.statusCode)
          else {
            expect(answer.statusCode, who).toBe(403)
            if (route.method !== 'HEAD') expect(answer.json(), who).toMatchObject({ error: 'forbidden' })
          }
          checked.push(who)
        }
    }
    expect(checked).toHaveLength(routes.length * 6)
  })
})

describe('a route that declares no access', () => {
  it('is refused when it is registered, naming the route and what to add', () => {
    const app = Fastify()
    registerOperators(app, { store: null })
    expect(() => app.get('/api/forgotten', async () => 'open')).toThrow(
      /route GET \/api\/forgotten declares no access: give it config: \{ access:/,
    )
  })

  it('cannot be slipped in through a plugin either: the app refuses to start', async () => {
    const app = Fastify()
    registerOperators(app, { store: null })
    app.register(async (scope) => {
      scope.post('/api/hidden', async () => 'open')
    })
    await expect(app.ready()).rejects.toThrow(/route POST \/api\/hidden declares no access/)
  })
})

describe('a route for operators', () => {
  it('refuses a viewer with 403 naming the role, and lets an operator and an admin through', async () => {
    const app = Fastify()
    registerOperators(app, { store })
    app.post('/api/act', { config: { access: 'operator' } }, async () => ({ acted: true }))
    const act = async (role: OperatorRole) =>
      app.inject({ method: 'POST', url: '/api/act', headers: await bearerFor(store, role, `act-${role}`) })
    const viewer = await act('viewer')
    expect(viewer.statusCode).toBe(403)
    expect(viewer.json().message).toBe(
      'POST /api/act needs the operator role or admin; "act-viewer" is a viewer',
    )
    expect((await act('operator')).json()).toEqual({ acted: true })
    expect((await act('admin')).json()).toEqual({ acted: true })
    await app.close()
  })
})

describe('an app without a store', () => {
  it('refuses every non-public route with 401 saying it has no operator accounts, and still serves the public ones', async () => {
    const bare = await startTestCoordinator()
    for (const url of ['/api/status', '/api/rounds', '/api/rounds/0/head']) {
      const answer = await bare.app.inject({ method: 'GET', url })
      expect(answer.statusCode, url).toBe(401)
      expect(answer.json().message, url).toMatch(/has no operator accounts/)
    }
    expect((await bare.app.inject({ method: 'GET', url: '/api/task' })).statusCode).toBe(200)
    // No sign-in route either: nothing to sign in to.
    expect((await bare.app.inject({ method: 'POST', url: '/api/session', payload: {} })).statusCode).toBe(404)
  })
})

describe('each refusal has its own status and message, and is audited', () => {
  it('no credentials: 401 naming the role needed and how to sign in, with WWW-Authenticate: Bearer', async () => {
    const answer = await h.app.inject({ method: 'GET', url: '/api/status', remoteAddress: '192.0.2.7' })
    expect(answer.statusCode).toBe(401)
    expect(answer.headers['www-authenticate']).toBe('Bearer realm="fedtune"')
    expect(answer.json()).toEqual({
      error: 'unauthenticated',
      message:
        'GET /api/status needs the viewer role or higher: sign in (POST /api/session) or send "Authorization: Bearer <API token>"',
    })
    expect(await lastAudit()).toMatchObject({
      actor: 'anonymous',
      address: '192.0.2.7',
      action: 'access.refused',
      target: 'GET /api/status',
      outcome: 'refused',
      detail: { code: 'unauthenticated', status: 401 },
    })
  })

  it('a token that was never issued, or a malformed Authorization header: 401 bad credentials', async () => {
    const unknown = await h.app.inject({
      method: 'GET',
      url: '/api/status',
      headers: { authorization: `Bearer ${newSecret(API_TOKEN_PREFIX)}` },
    })
    expect(unknown.statusCode).toBe(401)
    expect(unknown.headers['www-authenticate']).toBe('Bearer realm="fedtune", error="invalid_token"')
    expect(unknown.json()).toMatchObject({
      error: 'bad-credentials',
      message: expect.stringMatching(/never issued/),
    })
    const malformed = await h.app.inject({
      method: 'GET',
      url: '/api/status',
      headers: { authorization: 'Basic eDp5' },
    })
    expect(malformed.json()).toMatchObject({
      error: 'bad-credentials',
      message: expect.stringMatching(/^expected "Authorization: Bearer ftk_<43 base64url characters>"/),
    })
    expect(await lastAudit()).toMatchObject({ actor: 'anonymous', detail: { code: 'bad-credentials' } })
  })

  it('a viewer trying to act: 403 saying which role is needed', async () => {
    const viewer = await bearerFor(store, 'viewer', 'vera')
    const answer = await h.app.inject({ method: 'GET', url: '/api/operators', headers: viewer })
    expect(answer.statusCode).toBe(403)
    expect(answer.json()).toEqual({
      error: 'forbidden',
      message: 'GET /api/operators needs the admin role; "vera" is a viewer',
    })
    expect(await lastAudit()).toMatchObject({
      actor: 'vera',
      action: 'access.refused',
      target: 'GET /api/operators',
      detail: { code: 'forbidden', status: 403 },
    })
  })

  it('a revoked token: 401 saying it was revoked, and when', async () => {
    await addOperator(store, 'operator', 'otto')
    const created = await h.app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: await bearerFor(store, 'operator', 'otto'),
      payload: { label: 'nightly script' },
    })
    expect(created.statusCode).toBe(201)
    const { id, token } = created.json() as { id: number; token: string }
    expect(token).toMatch(/^ftk_[A-Za-z0-9_-]{43}$/)
    const headers = { authorization: `Bearer ${token}` }
    expect((await h.app.inject({ method: 'GET', url: '/api/status', headers })).statusCode).toBe(200)
    expect((await h.app.inject({ method: 'DELETE', url: `/api/tokens/${id}`, headers })).statusCode).toBe(200)
    const answer = await h.app.inject({ method: 'GET', url: '/api/status', headers })
    expect(answer.statusCode).toBe(401)
    expect(answer.json()).toMatchObject({
      error: 'token-revoked',
      message: expect.stringMatching(
        new RegExp(`^API token ${id} \\("nightly script"\\) was revoked at \\d{4}-`),
      ),
    })
    expect(await lastAudit()).toMatchObject({ actor: 'otto', detail: { code: 'token-revoked', status: 401 } })
    const actions = (await store.audit.list({ actor: 'otto' })).map((e) => `${e.action} ${e.outcome}`)
    expect(actions).toEqual(['token.create ok', 'token.revoke ok', 'access.refused refused'])
  })

  it('a state-changing request by cookie without the CSRF token, or with a wrong one: 403 saying so', async () => {
    await addOperator(store, 'operator', 'csrf-op')
    const { cookie, 'x-csrf-token': csrf } = await sessionFor(store, 'csrf-op')
    const post = (headers: Headers) =>
      h.app.inject({ method: 'POST', url: '/api/tokens', headers, payload: { label: 'x' } })
    const missing = await post({ cookie })
    expect(missing.statusCode).toBe(403)
    expect(missing.json()).toMatchObject({
      error: 'csrf-missing',
      message: expect.stringMatching(/x-csrf-token header .* got none/),
    })
    expect(await lastAudit()).toMatchObject({
      actor: 'csrf-op',
      detail: { code: 'csrf-missing', status: 403 },
    })
    const wrong = await post({ cookie, 'x-csrf-token': newSecret() })
    expect(wrong.statusCode).toBe(403)
    expect(wrong.json()).toMatchObject({
      error: 'csrf-mismatch',
      message: expect.stringMatching(/does not match/),
    })
    expect(await lastAudit()).toMatchObject({ actor: 'csrf-op', detail: { code: 'csrf-mismatch' } })
    expect((await post({ cookie, 'x-csrf-token': csrf })).statusCode).toBe(201)
    // Reading needs no CSRF token, nor does anything sent with a bearer token.
    expect((await h.app.inject({ method: 'GET', url: '/api/tokens', headers: { cookie } })).statusCode).toBe(
      200,
    )
  })

  it('a session signed out: 401 saying it was signed out', async () => {
    await addOperator(store, 'viewer', 'leaver')
    const headers = await sessionFor(store, 'leaver')
    expect((await h.app.inject({ method: 'DELETE', url: '/api/session', headers })).json()).toEqual({
      signedOut: true,
    })
    const answer = await h.app.inject({ method: 'GET', url: '/api/session', headers })
    expect(answer.statusCode).toBe(401)
    expect(answer.json()).toMatchObject({
      error: 'session-revoked',
      message: expect.stringMatching(/was signed out at/),
    })
    const actions = (await store.audit.list({ actor: 'leaver' })).map((e) => `${e.action} ${e.outcome}`)
    expect(actions).toEqual(['session.sign-out ok', 'access.refused refused'])
  })
})

describe('sessions expire', () => {
  it('a session past its expiry: 401 saying it expired, and when', async () => {
    let now = new Date('2026-12-01T08:00:00Z')
    const clock = () => now
    const timed = await openTestStore({ now: clock })
    const c = await startTestCoordinator({ store: timed, operators: { now: clock, sessionHours: 12 } })
    await addOperator(timed, 'viewer', 'sleeper')
    const signIn = await c.app.inject({
      method: 'POST',
      url: '/api/session',
      payload: { name: 'sleeper', password: TEST_PASSWORD },
    })
    expect(signIn.statusCode).toBe(201)
    expect(signIn.json()).toMatchObject({
      operator: 'sleeper',
      role: 'viewer',
      expiresAt: '2026-12-01T20:00:00.000Z',
    })
    const cookie = signIn.cookies.map((k) => `${k.name}=${k.value}`).join('; ')
    expect((await c.app.inject({ method: 'GET', url: '/api/session', headers: { cookie } })).statusCode).toBe(
      200,
    )
    now = new Date('2026-12-01T20:00:01Z')
    const answer = await c.app.inject({
      method: 'GET',
      url: '/api/session',
      headers: { cookie },
      remoteAddress: '198.51.100.3',
    })
    expect(answer.statusCode).toBe(401)
    expect(answer.json()).toEqual({
      error: 'session-expired',
      message: 'this session expired at 2026-12-01T20:00:00.000Z; sign in again (POST /api/session)',
    })
    expect((await timed.audit.list({ newestFirst: true, limit: 1 }))[0]).toMatchObject({
      at: '2026-12-01T20:00:01.000Z',
      actor: 'sleeper',
      address: '198.51.100.3',
      action: 'access.refused',
      target: 'GET /api/session',
      detail: { code: 'session-expired', status: 401 },
    })
  })
})

describe('signing in', () => {
  it('sets an HttpOnly, SameSite=Strict session cookie and a readable CSRF cookie, and stores only their hashes', async () => {
    await addOperator(store, 'admin', 'ada')
    const answer = await h.app.inject({
      method: 'POST',
      url: '/api/session',
      payload: { name: 'ada', password: TEST_PASSWORD },
      remoteAddress: '203.0.113.9',
    })
    expect(answer.statusCode).toBe(201)
    const { csrfToken } = answer.json() as { csrfToken: string }
    const cookies = answer.headers['set-cookie'] as string[]
    const session = cookies.find((c) => c.startsWith(`${SESSION_COOKIE}=`)) as string
    expect(session).toMatch(/; Path=\/; SameSite=Strict; Max-Age=43200; HttpOnly$/)
    expect(cookies.find((c) => c.startsWith(`${CSRF_COOKIE}=`))).toBe(
      `${CSRF_COOKIE}=${csrfToken}; Path=/; SameSite=Strict; Max-Age=43200`,
    )
    const token = session.slice(SESSION_COOKIE.length + 1).split(';')[0] as string
    const stored = await store.sessions.byTokenHash(secretHash(token))
    expect(stored).toMatchObject({ operator: 'ada', csrfHash: secretHash(csrfToken), address: '203.0.113.9' })
    const rows = await store.sql.query<{ n: number }>(
      'select count(*)::integer as n from sessions where token_hash = $1 or csrf_hash = $1',
      [token],
    )
    expect(rows[0]?.n).toBe(0)
    expect(await lastAudit()).toMatchObject({
      actor: 'ada',
      action: 'session.sign-in',
      outcome: 'ok',
      address: '203.0.113.9',
    })
  })

  it('a wrong password or an unknown name: the same 401, each audited as a refused sign-in', async () => {
    await addOperator(store, 'viewer', 'wendy')
    for (const [name, reason] of [
      ['wendy', 'wrong-password'],
      ['no-such-operator', 'unknown-name'],
    ] as const) {
      const answer = await h.app.inject({
        method: 'POST',
        url: '/api/session',
        payload: { name, password: 'not the password at all' },
      })
      expect(answer.statusCode).toBe(401)
      expect(answer.json()).toEqual({ error: 'bad-credentials', message: 'wrong name or password' })
      expect(await lastAudit()).toMatchObject({
        actor: 'anonymous',
        action: 'session.sign-in',
        outcome: 'refused',
        target: name,
        detail: { reason },
      })
    }
  })

  it('a body that is not { name, password } is refused with every problem listed', async () => {
    const answer = await h.app.inject({
      method: 'POST',
      url: '/api/session',
      payload: { name: 3, extra: true },
    })
    expect(answer.statusCode).toBe(400)
    expect(answer.json().message).toMatch(
      /^expected a JSON body \{ name, password \}: name: .*; password: .*extra/,
    )
  })

  it('five failures from one address block the sixth attempt with 429 and Retry-After; a success resets the name', async () => {
    let now = new Date('2026-12-01T08:00:00Z')
    const clock = () => now
    const timed = await openTestStore({ now: clock })
    const c = await startTestCoordinator({ store: timed, operators: { now: clock } })
    await addOperator(timed, 'viewer', 'guessed')
    const attempt = (password: string, remoteAddress: string) =>
      c.app.inject({
        method: 'POST',
        url: '/api/session',
        payload: { name: 'guessed', password },
        remoteAddress,
      })
    for (let i = 0; i < 4; i++) expect((await attempt('wrong password!!', '192.0.2.1')).statusCode).toBe(401)
    // A success from elsewhere resets the name's count (the address keeps its own).
    expect((await attempt(TEST_PASSWORD, '192.0.2.2')).statusCode).toBe(201)
    for (let i = 0; i < 4; i++) expect((await attempt('wrong password!!', '192.0.2.3')).statusCode).toBe(401)
    expect((await attempt('wrong password!!', '192.0.2.1')).statusCode).toBe(401)
    const blocked = await attempt(TEST_PASSWORD, '192.0.2.1')
    expect(blocked.statusCode).toBe(429)
    expect(blocked.headers['retry-after']).toBe('900')
    expect(blocked.json().message).toBe(
      'too many failed sign-ins from this address or for this name; try again in 900 s',
    )
    expect((await timed.audit.list({ newestFirst: true, limit: 1 }))[0]).toMatchObject({
      action: 'session.sign-in',
      outcome: 'refused',
      target: 'guessed',
      detail: { reason: 'rate-limited', retryAfterSeconds: 900 },
    })
    now = new Date('2026-12-01T08:10:00Z')
    expect((await attempt(TEST_PASSWORD, '192.0.2.1')).headers['retry-after']).toBe('300')
    now = new Date('2026-12-01T08:15:00Z')
    expect((await attempt(TEST_PASSWORD, '192.0.2.1')).statusCode).toBe(201)
  })
})

describe('operators and the audit log (admins)', () => {
  it('an admin adds an operator, changes its role and disables it, which signs it out everywhere; each step audited', async () => {
    const admin = await bearerFor(store, 'admin', 'root')
    const add = (payload: object) =>
      h.app.inject({ method: 'POST', url: '/api/operators', headers: admin, payload })
    const weak = await add({ name: 'newbie', role: 'operator', password: 'short' })
    expect(weak.statusCode).toBe(400)
    expect(weak.json()).toEqual({
      error: 'weak-password',
      message: 'expected a password of at least 12 characters, got 5',
    })
    const added = await add({ name: 'newbie', role: 'operator', password: TEST_PASSWORD })
    expect(added.statusCode).toBe(201)
    expect(added.json()).toMatchObject({ name: 'newbie', role: 'operator', disabledAt: null })
    expect(added.json()).not.toHaveProperty('passwordHash')
    expect((await add({ name: 'newbie', role: 'viewer', password: TEST_PASSWORD })).statusCode).toBe(409)
    const listed = (await h.app.inject({ method: 'GET', url: '/api/operators', headers: admin })).json()
    expect(JSON.stringify(listed)).not.toMatch(/scrypt/)

    const newbie = await bearerFor(store, 'operator', 'newbie')
    const patch = (payload: object) =>
      h.app.inject({ method: 'PATCH', url: '/api/operators/newbie', headers: admin, payload })
    expect((await patch({ role: 'viewer' })).json()).toMatchObject({ role: 'viewer' })
    expect((await patch({ disabled: true })).json()).toMatchObject({ disabledAt: expect.any(String) })
    const after = await h.app.inject({ method: 'GET', url: '/api/status', headers: newbie })
    expect(after.statusCode).toBe(401)
    expect(after.json()).toMatchObject({ error: 'token-revoked' })
    const signIn = await h.app.inject({
      method: 'POST',
      url: '/api/session',
      payload: { name: 'newbie', password: TEST_PASSWORD },
    })
    expect(signIn.json()).toMatchObject({ error: 'account-disabled' })

    const steps = (await store.audit.list({ actor: 'root' })).map(
      (e) => `${e.action} ${e.target} ${e.outcome}`,
    )
    expect(steps).toEqual([
      'operator.add newbie refused',
      'operator.add newbie ok',
      'operator.add newbie refused',
      'operator.change newbie ok',
      'operator.change newbie ok',
    ])
  })

  it('the last enabled admin cannot be demoted or disabled', async () => {
    const lone = await openTestStore()
    const c = await startTestCoordinator({ store: lone })
    const admin = await bearerFor(lone, 'admin', 'only')
    const answer = await c.app.inject({
      method: 'PATCH',
      url: '/api/operators/only',
      headers: admin,
      payload: { role: 'operator' },
    })
    expect(answer.statusCode).toBe(409)
    expect(answer.json()).toMatchObject({ error: 'last-admin' })
  })

  it('GET /api/audit reads newest first, filtered, a page at a time with a cursor', async () => {
    const paged = await openTestStore()
    const c = await startTestCoordinator({ store: paged })
    const admin = await bearerFor(paged, 'admin', 'auditor')
    for (let i = 0; i < 5; i++)
      await paged.audit.append({ actor: `p${i}`, action: 'test.step', outcome: 'ok', run: i % 2 })
    const read = async (query: string) => {
      const answer = await c.app.inject({ method: 'GET', url: `/api/audit?${query}`, headers: admin })
      expect(answer.statusCode, answer.body).toBe(200)
      return answer.json() as { entries: { actor: string; id: number }[]; next: number | null }
    }
    const first = await read('action=test.step&limit=2')
    expect(first.entries.map((e) => e.actor)).toEqual(['p4', 'p3'])
    const second = await read(`action=test.step&limit=2&before=${first.next}`)
    expect(second.entries.map((e) => e.actor)).toEqual(['p2', 'p1'])
    const third = await read(`action=test.step&limit=2&before=${second.next}`)
    expect(third).toMatchObject({ entries: [{ actor: 'p0' }], next: null })
    expect((await read('run=1')).entries.map((e) => e.actor)).toEqual(['p3', 'p1'])
    const bad = await c.app.inject({ method: 'GET', url: '/api/audit?limit=0&colour=red', headers: admin })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().message).toMatch(/limit: expected a limit as a positive decimal integer.*colour/)
  })
})

describe('over a real listening socket, with real cookies', () => {
  it('a browser signs in, reads who it is, is refused a change without the CSRF header, and signs out', async () => {
    await addOperator(store, 'operator', 'browser-user')
    const signIn = await fetch(`${h.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'browser-user', password: TEST_PASSWORD }),
    })
    expect(signIn.status).toBe(201)
    const { csrfToken } = (await signIn.json()) as { csrfToken: string }
    const cookie = signIn.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ')
    const who = await fetch(`${h.url}/api/session`, { headers: { cookie } })
    expect(await who.json()).toMatchObject({ operator: 'browser-user', role: 'operator', via: 'session' })
    expect((await fetch(`${h.url}/api/status`, { headers: { cookie } })).status).toBe(200)
    const refused = await fetch(`${h.url}/api/session`, { method: 'DELETE', headers: { cookie } })
    expect(refused.status).toBe(403)
    const out = await fetch(`${h.url}/api/session`, {
      method: 'DELETE',
      headers: { cookie, 'x-csrf-token': csrfToken },
    })
    expect(out.status).toBe(200)
    expect(out.headers.getSetCookie()[0]).toMatch(
      /^fedtune_session=; Path=\/; SameSite=Strict; Max-Age=0; HttpOnly$/,
    )
    expect((await fetch(`${h.url}/api/session`, { headers: { cookie } })).status).toBe(401)
  })

  it('cookies are Secure when the request came over TLS, as a trusted proxy says, and not otherwise', async () => {
    const proxied = await openTestStore()
    const c = await startTestCoordinator({ store: proxied, trustProxy: '127.0.0.1' })
    await addOperator(proxied, 'viewer', 'proxied-user')
    const signIn = (headers: Headers, remoteAddress: string) =>
      c.app.inject({
        method: 'POST',
        url: '/api/session',
        headers,
        remoteAddress,
        payload: { name: 'proxied-user', password: TEST_PASSWORD },
      })
    const overTls = await signIn(
      { 'x-forwarded-proto': 'https', 'x-forwarded-for': '198.51.100.77' },
      '127.0.0.1',
    )
    for (const cookie of overTls.headers['set-cookie'] as string[]) expect(cookie).toMatch(/; Secure$/)
    expect((await proxied.audit.list({ newestFirst: true, limit: 1 }))[0]).toMatchObject({
      action: 'session.sign-in',
      address: '198.51.100.77',
    })
    // The same headers from an address that is not the proxy are not believed.
    const spoofed = await signIn(
      { 'x-forwarded-proto': 'https', 'x-forwarded-for': '198.51.100.77' },
      '192.0.2.50',
    )
    for (const cookie of spoofed.headers['set-cookie'] as string[]) expect(cookie).not.toMatch(/Secure/)
    expect((await proxied.audit.list({ newestFirst: true, limit: 1 }))[0]).toMatchObject({
      address: '192.0.2.50',
    })
  })

  it('cookies are marked Secure when the coordinator is told it sits behind TLS', async () => {
    const tls = await openTestStore()
    const c = await startTestCoordinator({ store: tls, operators: { secureCookies: true } })
    await addOperator(tls, 'viewer', 'secure-user')
    const answer = await c.app.inject({
      method: 'POST',
      url: '/api/session',
      payload: { name: 'secure-user', password: TEST_PASSWORD },
    })
    for (const c of answer.headers['set-cookie'] as string[]) expect(c).toMatch(/; Secure$/)
  })
})

describe('a flood of refused requests', () => {
  it('costs the audit log a row each for the first ones of an address in a window, then one summary row; other addresses keep theirs', async () => {
    const flooded = await openTestStore()
    let at = Date.parse('2026-12-02T10:00:00.000Z')
    const c = await startTestCoordinator({
      store: flooded,
      operators: {
        now: () => new Date(at),
        auditBudget: { perAddress: 3, windowMs: 60_000, maxAddresses: 100 },
      },
    })
    const anonymous = (remoteAddress: string) =>
      c.app.inject({ method: 'GET', url: '/api/status', remoteAddress })
    for (let i = 0; i < 50; i++) expect((await anonymous('198.51.100.9')).statusCode).toBe(401)
    // another address is not silenced by the first one's flood
    expect((await anonymous('198.51.100.10')).statusCode).toBe(401)
    const rows = async (action: string) =>
      (await flooded.audit.list({ action, limit: 1000 })).map((e) => [e.address, e.detail])
    expect((await rows('access.refused')).map(([address]) => address)).toEqual([
      '198.51.100.9',
      '198.51.100.9',
      '198.51.100.9',
      '198.51.100.10',
    ])
    expect(await rows('access.refused.summary')).toEqual([])
    // the window over, the next refusal writes the summary of the last one, and is audited itself
    at += 60_000
    await anonymous('198.51.100.9')
    expect(await rows('access.refused.summary')).toEqual([
      ['198.51.100.9', { refusals: 47, since: '2026-12-02T10:00:00.000Z' }],
    ])
    expect(await rows('access.refused')).toHaveLength(5)
    // refusals past the budget in a window still open are summarized when the coordinator closes
    for (let i = 0; i < 5; i++) await anonymous('198.51.100.9')
    await c.app.close()
    expect((await rows('access.refused.summary')).at(-1)).toEqual([
      '198.51.100.9',
      { refusals: 3, since: '2026-12-02T10:01:00.000Z' },
    ])
  })

  it('failed and rate-limited sign-ins share the budget: a guessing script costs three rows and a summary', async () => {
    const guessed = await openTestStore()
    let at = Date.parse('2026-12-02T10:00:00.000Z')
    const c = await startTestCoordinator({
      store: guessed,
      operators: {
        now: () => new Date(at),
        auditBudget: { perAddress: 3, windowMs: 60_000, maxAddresses: 100 },
      },
    })
    const statuses = new Set<number>()
    for (let i = 0; i < 20; i++) {
      const answer = await c.app.inject({
        method: 'POST',
        url: '/api/session',
        payload: { name: 'ada', password: `guess ${i}` },
        remoteAddress: '203.0.113.5',
      })
      statuses.add(answer.statusCode)
    }
    // wrong passwords, then the limiter's 429s: refused either way
    expect([...statuses].sort()).toEqual([401, 429])
    expect(await guessed.audit.list({ action: 'session.sign-in', limit: 1000 })).toHaveLength(3)
    at += 60_000
    await c.app.inject({
      method: 'POST',
      url: '/api/session',
      payload: { name: 'ada', password: 'again' },
      remoteAddress: '203.0.113.5',
    })
    expect((await guessed.audit.list({ action: 'access.refused.summary' })).map((e) => e.detail)).toEqual([
      { refusals: 17, since: '2026-12-02T10:00:00.000Z' },
    ])
  })

  it('remembers at most maxAddresses addresses, summarizing the one it drops', async () => {
    const { AuditBudget } = await import('@fedtune/coordinator/operators')
    const budget = new AuditBudget({ perAddress: 1, windowMs: 60_000, maxAddresses: 2 })
    expect(budget.take('a', 0)).toEqual({ write: true, ended: [] })
    expect(budget.take('a', 1)).toEqual({ write: false, ended: [] })
    expect(budget.take('b', 2).write).toBe(true)
    // a third address drops the oldest window, which had one refusal past the budget
    expect(budget.take('c', 3)).toEqual({ write: true, ended: [{ address: 'a', count: 1, since: 0 }] })
    expect(budget.size).toBe(2)
    expect(() => new AuditBudget({ perAddress: 0 })).toThrow(
      /perAddress to be a positive whole number, got 0/,
    )
  })
})
