import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CSRF_COOKIE, newSecret, SESSION_COOKIE, secretHash } from '@fedtune/coordinator/operators'
import type { Store } from '@fedtune/coordinator/store'
import {
  CONSOLE_NAMESPACE,
  CONSOLE_SOCKET_PATH,
  type ConsoleAuditEntry,
  type ConsoleParticipant,
  type ConsoleRun,
  type ConsoleWatchReply,
  type ConsoleWelcome,
  keyFingerprint,
  type LiveRound,
  type RoundEntry,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { io as connect, type Socket } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type MainCoordinator,
  seedOf,
  silentFrom,
  startMainCoordinator,
  testParticipant,
} from '../harness.ts'
import { splitPneumonia } from '../pneumonia-split.ts'
import { addOperator, bearerFor } from '../test-store.ts'

/**
 * Issue 13, the coordinator's side of the operators' console: a socket.io namespace of its own,
 * refused without a usable session (each refusal audited), that pushes runs, the running round's
 * stages, each round's timeline entry, participants and audit rows to signed-in operators.
 */
const _shared = fileURLToPath(new URL('../../../shared/', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'fedtune-console-'))
const data = join(work, 'data')
const running: MainCoordinator[] = []

beforeAll(async () => {
  await splitPneumonia(data, { hospitals: 1, perHospital: 4, testLimit: 16, seed: 3 })
}, 120_000)

afterAll(async () => {
  await Promise.all(running.map((c) => c.close()))
  rmSync(work, { recursive: true, force: true })
})

async function coordinator(file: Parameters<typeof startMainCoordinator>[0] = {}): Promise<MainCoordinator> {
  const c = await startMainCoordinator(file)
  running.push(c)
  return c
}

/** A session cookie of `operator` (its own session row); `expired`: one that expired a minute ago. */
async function sessionCookie(store: Store, operator: string, expired = false) {
  const token = newSecret()
  const csrf = newSecret()
  const tokenHash = secretHash(token)
  await store.sessions.create({
    tokenHash,
    operator,
    csrfHash: secretHash(csrf),
    expiresAt: new Date(Date.now() + 3_600_000),
    address: null,
  })
  if (expired)
    await store.sql.query(
      `update sessions set created_at = now() - interval '2 hours', expires_at = now() - interval '1 minute' where token_hash = $1`,
      [tokenHash],
    )
  return { cookie: `${SESSION_COOKIE}=${token}; ${CSRF_COOKIE}=${csrf}`, token, csrf }
}

/** A console: what the page does, with the cookie or token a browser or script sends. */
type Console = {
  readonly socket: Socket
  /** Every event it received, in order. */
  readonly seen: { readonly event: string; readonly value: unknown }[]
  /** The first event `event` (past or future) whose value matches `test`. */
  next<T>(event: string, test?: (value: T) => boolean): Promise<T>
  watch(task: unknown): Promise<ConsoleWatchReply>
}

function consoleTo(c: MainCoordinator, headers: Record<string, string> = {}): Console {
  const socket = connect(`${c.url}${CONSOLE_NAMESPACE}`, {
    path: CONSOLE_SOCKET_PATH,
    transports: ['websocket'],
    reconnection: false,
    extraHeaders: headers,
  })
  c.sockets.push(socket)
  const seen: Console['seen'] = []
  const waiting: { event: string; test: (v: unknown) => boolean; resolve: (v: unknown) => void }[] = []
  socket.onAny((event: string, value: unknown) => {
    seen.push({ event, value })
    for (const w of waiting.splice(0))
      if (w.event === event && w.test(value)) w.resolve(value)
      else waiting.push(w)
  })
  return {
    socket,
    seen,
    next: <T>(event: string, test: (value: T) => boolean = () => true) =>
      new Promise<T>((resolve) => {
        const past = seen.find((s) => s.event === event && test(s.value as T))
        if (past) return resolve(past.value as T)
        waiting.push({
          event,
          test: test as (v: unknown) => boolean,
          resolve: resolve as (v: unknown) => void,
        })
      }),
    watch: (task) => socket.timeout(10_000).emitWithAck('watch', task) as Promise<ConsoleWatchReply>,
  }
}

/** The connect_error a console gets: its message and data. */
function refusalOf(socket: Socket): Promise<{ message: string; data: { code: string; message: string } }> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error('expected the console to be refused, it connected')))
    socket.once('connect_error', (error: Error) =>
      resolve({
        message: error.message,
        data: (error as Error & { data: { code: string; message: string } }).data,
      }),
    )
  })
}

describe('the console namespace refuses a connection without a usable session', () => {
  let c: MainCoordinator
  beforeAll(async () => {
    c = await coordinator()
    await addOperator(c.store, 'viewer', 'vera')
  })

  it('no cookie: connect_error unauthenticated, audited as console.refused', async () => {
    const refused = await refusalOf(consoleTo(c).socket)
    expect(refused.data.code).toBe('unauthenticated')
    expect(refused.message).toMatch(/needs a signed-in operator/)
    const rows = await c.store.audit.list({ action: 'console.refused' })
    expect(rows.at(-1)).toMatchObject({
      actor: 'anonymous',
      outcome: 'refused',
      detail: { code: 'unauthenticated' },
    })
  })

  it('an expired session and a signed-out one are refused saying so, audited under the operator', async () => {
    const expired = await sessionCookie(c.store, 'vera', true)
    const late = await refusalOf(consoleTo(c, { cookie: expired.cookie }).socket)
    expect(late.data).toMatchObject({ code: 'session-expired', message: expect.stringMatching(/expired at/) })
    const out = await sessionCookie(c.store, 'vera')
    await c.store.sessions.revoke(secretHash(out.token))
    const revoked = await refusalOf(consoleTo(c, { cookie: out.cookie }).socket)
    expect(revoked.data).toMatchObject({
      code: 'session-revoked',
      message: expect.stringMatching(/signed out/),
    })
    const rows = await c.store.audit.list({ action: 'console.refused', actor: 'vera' })
    expect(rows.map((r) => r.detail.code)).toEqual(['session-expired', 'session-revoked'])
  })

  it('a page of another origin is refused even with a valid session', async () => {
    const { cookie } = await sessionCookie(c.store, 'vera')
    const refused = await refusalOf(consoleTo(c, { cookie, origin: 'https://evil.example' }).socket)
    expect(refused.data.code).toBe('foreign-origin')
    expect(refused.message).toMatch(/evil\.example/)
    // its own origin connects
    const own = consoleTo(c, { cookie, origin: c.url })
    expect((await own.next<ConsoleWelcome>('welcome')).operator).toEqual({ name: 'vera', role: 'viewer' })
  })

  it('a flood of refused handshakes costs the audit log 60 rows per address a minute, not a row each', async () => {
    const flood = await coordinator()
    for (let i = 0; i < 64; i++) {
      const refused = consoleTo(flood)
      expect((await refusalOf(refused.socket)).data.code).toBe('unauthenticated')
      refused.socket.disconnect()
    }
    expect(await flood.store.audit.list({ action: 'console.refused', limit: 1000 })).toHaveLength(60)
  })

  it('a console whose session is signed out is told so and disconnected', async () => {
    const { cookie, csrf } = await sessionCookie(c.store, 'vera')
    const watcher = consoleTo(c, { cookie })
    await watcher.next('welcome')
    const gone = new Promise<string>((resolve) => watcher.socket.once('disconnect', resolve))
    const out = await c.app.inject({
      method: 'DELETE',
      url: '/api/session',
      headers: { cookie, 'x-csrf-token': csrf },
    })
    expect(out.statusCode).toBe(200)
    expect(await watcher.next('signed-out')).toMatchObject({ code: 'session-revoked' })
    expect(await gone).toBe('io server disconnect')
  })
})

describe('a signed-in viewer watches a run', () => {
  it('welcome lists the runs; watching an unknown task answers ok:false saying which exist', async () => {
    const c = await coordinator()
    const viewer = consoleTo(c, await bearerFor(c.store, 'viewer', 'val'))
    const welcome = await viewer.next<ConsoleWelcome>('welcome')
    expect(welcome.operator).toEqual({ name: 'val', role: 'viewer' })
    expect(welcome.runs).toEqual([
      expect.objectContaining({ task: 'main', run: c.run.id, round: 0, rounds: 1, secure: true }),
    ])
    expect(await viewer.watch('nope')).toMatchObject({
      ok: false,
      error: 'unknown-task',
      message: expect.stringMatching(/"main"/),
    })
    expect(await viewer.watch({ task: 'main' })).toMatchObject({ ok: false, error: 'bad-request' })
  })

  it('three hospitals in secure rounds: stages live in order, a timeline entry per round with spans, bytes, accuracy and the majority line, the dropout at masked-input', async () => {
    const c = await coordinator({
      head: { labels: ['normal', 'pneumonia'] },
      training: { rounds: 2 },
      participation: { minParticipants: 2, participantsPerRound: 3, gatherSeconds: 1 },
      aggregation: { neighbours: 3, threshold: 2, stageDeadlineSeconds: 30 },
      evaluation: { test: join(data, 'test') },
    })
    const viewer = consoleTo(c, await bearerFor(c.store, 'viewer'))
    await viewer.next('welcome')
    const watched = await viewer.watch('main')
    expect(watched).toMatchObject({
      ok: true,
      run: { task: 'main', state: 'waiting' },
      live: null,
      timeline: [],
    })
    if (!watched.ok) throw new Error('unreachable')
    expect(watched.run.waiting).toEqual({ kind: 'participants', online: 0, needed: 2 })
    // c sends its share-keys, then its connection drops before its masked input
    const dropper = testParticipant(c, 'c', {
      alter: (message, round) => {
        if (round === 1 && message.stage === 'masked-input') {
          dropper.socket.disconnect()
          return undefined
        }
        return message
      },
    })
    const hospitals = [testParticipant(c, 'a'), testParticipant(c, 'b'), dropper]
    for (const h of hospitals) expect((await h.joined).ok).toBe(true)
    const first = await viewer.next<RoundEntry>('round-ended', (e) => e.round === 1)
    const second = await viewer.next<RoundEntry>('round-ended', (e) => e.round === 2)
    const live = viewer.seen.filter((s) => s.event === 'round-live').map((s) => s.value as LiveRound)
    const stagesOf = (round: number) => [
      ...new Set(live.filter((l) => l.round === round).map((l) => l.stage)),
    ]
    expect(stagesOf(1)).toEqual(['advertise', 'share-keys', 'masked-input', 'unmask'])
    for (const l of live) {
      expect(l.heard).toBeLessThanOrEqual(l.of)
      expect(l.waitingFor.length).toBeLessThanOrEqual(l.of - l.heard)
    }
    expect(first).toMatchObject({
      task: 'main',
      status: 'aggregated',
      selected: 3,
      survivors: 2,
      dropouts: [{ participant: 'c', stage: 'masked-input' }],
      excluded: [],
    })
    expect(first.stages.map((s) => [s.stage, s.heard, s.of])).toEqual([
      ['advertise', 3, 3],
      ['share-keys', 3, 3],
      ['masked-input', 2, 3],
      ['unmask', 2, 3],
    ])
    for (const s of first.stages) expect(s.durationMs).toBeGreaterThanOrEqual(0)
    expect(first.bytesIn).toBeGreaterThan(0)
    expect(first.bytesOut).toBeGreaterThan(0)
    expect(first.accuracy).toEqual(expect.any(Number))
    expect(first.majority).toBeGreaterThanOrEqual(0.5)
    expect(first.majority).toBeLessThanOrEqual(1)
    expect(second).toMatchObject({ status: 'aggregated', selected: 2, survivors: 2, dropouts: [] })
    const finished = await viewer.next<ConsoleRun>('run', (r) => r.state === 'finished')
    expect(finished).toMatchObject({ round: 2, completed: 2, failed: 0, waiting: null, etaMs: null })
    expect(finished.accuracy).toBe(second.accuracy)
    // each round's push carries its evaluation in full: the held-out set's confusion matrix (16
    // images), named by the task's labels, with each class's recall
    for (const e of [first, second]) {
      expect(e.test).toEqual({ accuracy: e.accuracy, auc: e.auc })
      expect(e.evaluation).toMatchObject({ round: e.round, labels: ['normal', 'pneumonia'] })
      expect(e.evaluation?.matrix?.set).toBe('test')
      expect(e.evaluation?.matrix?.confusion.flat().reduce((a, b) => a + b, 0)).toBe(16)
      expect(e.evaluation?.matrix?.perClass).toHaveLength(2)
    }
    // the participants table: counters from the run's records, never anyone's own numbers
    const again = await viewer.watch('main')
    if (!again.ok) throw new Error(again.message)
    expect(again.timeline.map((e) => e.round)).toEqual([1, 2])
    // the watch's timeline carries the matrix of its latest round only
    expect(again.timeline.map((e) => e.evaluation?.round ?? null)).toEqual([null, 2])
    const row = (name: string) => again.participants.find((p) => p.name === name)
    expect(row('a')).toMatchObject({
      kind: 'hospital',
      state: 'approved',
      rounds: 2,
      dropouts: 0,
      agent: 'test',
    })
    expect(row('c')).toMatchObject({ rounds: 0, dropouts: 1, online: false, lastSeen: expect.any(String) })
    expect(row('a')?.fingerprint).toMatch(/\S/)
    expect(JSON.stringify(again)).not.toMatch(/delta|valAccuracy|trainLoss/)
    // connected all along: the participants' socket.io server left the console's upgrade alone
    expect(viewer.socket.connected).toBe(true)
  })
})

describe('run control reaches every console', () => {
  it('a pause through the REST API pushes the run paused, waiting for a resume, and its audit row; /api/status says the same', async () => {
    const c = await coordinator({ participation: { minParticipants: 2 } })
    const op = await bearerFor(c.store, 'operator', 'olga')
    const viewer = consoleTo(c, await bearerFor(c.store, 'viewer'))
    await viewer.next('welcome')
    const before = await c.app.inject({ method: 'GET', url: '/api/status', headers: op })
    expect(before.json()).toMatchObject({
      state: 'waiting',
      waiting: { kind: 'participants', online: 0, needed: 2 },
      startedAt: expect.any(String),
      accuracy: null,
      auc: null,
      etaMs: null,
    })
    const paused = await c.app.inject({ method: 'POST', url: '/api/tasks/main/pause', headers: op })
    expect(paused.statusCode).toBe(200)
    expect(await viewer.next<ConsoleRun>('run', (r) => r.state === 'paused')).toMatchObject({
      task: 'main',
      waiting: { kind: 'resume', pausedBy: 'olga' },
    })
    expect(await viewer.next<ConsoleAuditEntry>('audit', (a) => a.action === 'run.pause')).toMatchObject({
      actor: 'olga',
      task: 'main',
      outcome: 'ok',
    })
    const after = await c.app.inject({ method: 'GET', url: '/api/status', headers: op })
    expect(after.json()).toMatchObject({
      state: 'paused',
      paused: true,
      waiting: { kind: 'resume', pausedBy: 'olga' },
    })
    await c.app.inject({
      method: 'POST',
      url: '/api/tasks/main/stop',
      headers: op,
      payload: { reason: 'enough' },
    })
    expect(await viewer.next<ConsoleRun>('run', (r) => r.state === 'stopped')).toMatchObject({
      reason: 'stopped by olga: enough',
      waiting: null,
      etaMs: null,
    })
  })

  it('a stage waiting on a straggler: the live round and /api/status name it with the deadline; an abort over REST ends the round, audited', async () => {
    const c = await coordinator({
      participation: { minParticipants: 2, participantsPerRound: 3, gatherSeconds: 3600 },
      aggregation: { neighbours: 3, threshold: 2, stageDeadlineSeconds: 3600 },
    })
    const op = await bearerFor(c.store, 'operator', 'olga')
    const viewer = consoleTo(c, await bearerFor(c.store, 'viewer'))
    await viewer.next('welcome')
    expect((await viewer.watch('main')).ok).toBe(true)
    const hospitals = [
      testParticipant(c, 'a'),
      testParticipant(c, 'b'),
      testParticipant(c, 'c', { alter: silentFrom(1, 'masked-input') }),
    ]
    for (const h of hospitals) expect((await h.joined).ok).toBe(true)
    const live = await viewer.next<LiveRound>(
      'round-live',
      (l) => l.stage === 'masked-input' && l.heard === 2,
    )
    expect(live).toMatchObject({
      round: 1,
      of: 3,
      waitingFor: ['c'],
      more: 0,
      deadlineAt: expect.any(Number),
    })
    const status = (await c.app.inject({ method: 'GET', url: '/api/status', headers: op })).json()
    expect(status).toMatchObject({
      state: 'running',
      waiting: {
        kind: 'stage',
        stage: 'masked-input',
        waitingFor: ['c'],
        more: 0,
        deadlineAt: live.deadlineAt,
      },
    })
    const aborted = await c.app.inject({
      method: 'POST',
      url: '/api/tasks/main/abort',
      headers: op,
      payload: { reason: 'c is stuck' },
    })
    expect(aborted.statusCode).toBe(200)
    expect(await viewer.next<RoundEntry>('round-ended', (e) => e.round === 1)).toMatchObject({
      status: 'failed',
      reason: 'aborted by olga: c is stuck',
      accuracy: null,
      dropouts: [],
    })
    expect(await viewer.next<ConsoleAuditEntry>('audit', (a) => a.action === 'run.abort')).toMatchObject({
      actor: 'olga',
      detail: { reason: 'c is stuck' },
    })
  })
})

describe('participants reach the consoles watching their task', () => {
  it('an approval over REST pushes the participant approved, with its key fingerprint, to a console watching the task', async () => {
    const c = await coordinator()
    const op = await bearerFor(c.store, 'operator', 'olga')
    const viewer = consoleTo(c, await bearerFor(c.store, 'viewer'))
    await viewer.next('welcome')
    const identityKey = nodeCrypto.ed25519PublicKey(seedOf('pending'))
    await c.store.participants.request({ task: 'main', name: 'pending', kind: 'hospital', identityKey })
    const watched = await viewer.watch('main')
    if (!watched.ok) throw new Error(watched.message)
    expect(watched.participants).toEqual([
      {
        task: 'main',
        name: 'pending',
        kind: 'hospital',
        fingerprint: keyFingerprint(identityKey),
        state: 'pending',
        online: false,
        lastSeen: null,
        rounds: 0,
        dropouts: 0,
        exclusions: 0,
        agent: null,
      },
    ])
    const approved = await c.app.inject({
      method: 'POST',
      url: '/api/tasks/main/participants/pending/approve',
      headers: op,
    })
    expect(approved.statusCode).toBe(200)
    expect(await viewer.next<ConsoleParticipant>('participant', (p) => p.state === 'approved')).toMatchObject(
      {
        name: 'pending',
        fingerprint: keyFingerprint(identityKey),
      },
    )
  })
})

describe('the console socket takes nothing but watch', () => {
  it('other events are counted and ignored, then the console is disconnected; watch is rate-limited', async () => {
    const c = await coordinator()
    const viewer = consoleTo(c, await bearerFor(c.store, 'viewer'))
    await viewer.next('welcome')
    const gone = new Promise<string>((resolve) => viewer.socket.once('disconnect', resolve))
    for (let i = 0; i < 21; i++) viewer.socket.emit('pause', 'main')
    expect(await gone).toBe('io server disconnect')
    const watcher = consoleTo(c, await bearerFor(c.store, 'viewer', 'w2'))
    await watcher.next('welcome')
    const replies = await Promise.all(Array.from({ length: 12 }, () => watcher.watch('main')))
    expect(replies.filter((r) => r.ok)).toHaveLength(10)
    expect(replies.filter((r) => !r.ok)).toEqual(
      Array.from({ length: 2 }, () => expect.objectContaining({ ok: false, error: 'rate-limited' })),
    )
  })

  it('the console server’s default namespace serves nothing', async () => {
    const c = await coordinator()
    const headers = await bearerFor(c.store, 'viewer')
    // the default namespace of the console server serves nothing
    const bare = connect(c.url, {
      path: CONSOLE_SOCKET_PATH,
      transports: ['websocket'],
      reconnection: false,
      extraHeaders: headers,
    })
    c.sockets.push(bare)
    const refused = await refusalOf(bare)
    expect(refused.message).toMatch(/expected the namespace \/console/)
  })
})
