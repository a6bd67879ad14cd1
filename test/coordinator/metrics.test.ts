import { connectRefusal, packedParser } from '@fedtune/protocol'
import { io as connect } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  connectTo,
  type MainCoordinator,
  startMainCoordinator,
  startTestCoordinator,
  testParticipant,
} from '../harness.ts'
import { addOperator, TEST_PASSWORD } from '../test-store.ts'
import { type Exposition, parseExposition, sampleValue } from './prometheus-text.ts'

/**
 * Issue 13, item 3: the coordinator's Prometheus metrics, read over real HTTP from a real coordinator
 * (`fedtune coordinator` as startCoordinator starts it) whose participants run secure rounds over real
 * sockets: with the metrics token on the main port, and without one on a port of their own.
 */

const TOKEN = 'a-metrics-token-of-the-test-0123456789'
const STAGE_NAMES = ['advertise', 'share-keys', 'masked-input', 'unmask'] as const

let c: MainCoordinator

beforeAll(async () => {
  c = await startMainCoordinator(
    { participation: { minParticipants: 2, gatherSeconds: 0 }, training: { rounds: 2 } },
    {},
    { metrics: { token: TOKEN, address: { host: '127.0.0.1', port: 0 } } },
  )
})
afterAll(() => c.close())

/** GET /metrics on the main port with `headers`. */
const get = (headers: Record<string, string> = {}) => fetch(`${c.url}/metrics`, { headers })

/** The main port's /metrics with the token, parsed. */
async function scrape(): Promise<Exposition> {
  const response = await get({ authorization: `Bearer ${TOKEN}` })
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
  return parseExposition(await response.text())
}

describe('GET /metrics on the main port', () => {
  it('without the token: 401 saying what to send; with a wrong one: 401 saying it does not match; both audited', async () => {
    const none = await get()
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="fedtune-metrics"')
    expect(await none.json()).toEqual({
      error: 'unauthenticated',
      message:
        'GET /metrics needs "Authorization: Bearer <metrics token>", the token in the file the coordinator was started with (--metrics-token-file)',
    })
    const wrong = await get({ authorization: `Bearer ${TOKEN}x` })
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('www-authenticate')).toBe(
      'Bearer realm="fedtune-metrics", error="invalid_token"',
    )
    expect(await wrong.json()).toMatchObject({
      error: 'bad-credentials',
      message: expect.stringMatching(/does not match/),
    })
    // an operator's API token is not the metrics token
    const basic = await get({ authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` })
    expect(basic.status).toBe(401)
    const audited = await c.store.audit.list({ action: 'access.refused', newestFirst: true, limit: 3 })
    expect(audited.map((e) => [e.target, e.actor, e.detail])).toEqual([
      ['GET /metrics', 'anonymous', { code: 'bad-credentials', status: 401 }],
      ['GET /metrics', 'anonymous', { code: 'bad-credentials', status: 401 }],
      ['GET /metrics', 'anonymous', { code: 'unauthenticated', status: 401 }],
    ])
  })

  it('with the token: the process’s metrics and every fedtune_ metric, each with its HELP and TYPE', async () => {
    const scraped = await scrape()
    for (const [name, type] of [
      ['process_cpu_user_seconds_total', 'counter'],
      ['process_resident_memory_bytes', 'gauge'],
      ['nodejs_heap_size_used_bytes', 'gauge'],
      ['nodejs_eventloop_lag_seconds', 'gauge'],
      ['fedtune_rounds_total', 'counter'],
      ['fedtune_round_duration_seconds', 'histogram'],
      ['fedtune_stage_duration_seconds', 'histogram'],
      ['fedtune_unmask_seconds', 'histogram'],
      ['fedtune_dropouts_total', 'counter'],
      ['fedtune_participants_online', 'gauge'],
      ['fedtune_bytes_total', 'counter'],
      ['fedtune_refused_messages_total', 'counter'],
      ['fedtune_sign_in_failures_total', 'counter'],
      ['fedtune_http_requests_total', 'counter'],
      ['fedtune_read_pacing_seconds_total', 'counter'],
    ] as const)
      expect(scraped.families.get(name), name).toMatchObject({ type, help: expect.stringMatching(/\S/) })
    // the earlier refusals, by route and status
    expect(
      sampleValue(scraped, 'fedtune_http_requests_total', {
        method: 'GET',
        route: '/metrics',
        status: '401',
      }),
    ).toBeGreaterThanOrEqual(3)
  })
})

// Before the run: once it is over, connections to its task are refused as task-finished.
describe('refusals and failed sign-ins', () => {
  it('an update before hello (no-hello), a flood of unknown events (unknown-events), a connection to an unknown task (unknown-task): each counted under its code', async () => {
    const before = sampleValue(await scrape(), 'fedtune_refused_messages_total', { code: 'no-hello' }) ?? 0
    const socket = connectTo(c)
    const ack = await socket.timeout(10_000).emitWithAck('update', { round: 1 })
    expect(ack).toMatchObject({ ok: false, code: 'no-hello' })
    socket.disconnect()
    // past the limit of events it may not send (20 by default), its guard closes the connection
    const flooder = connectTo(c)
    const closed = new Promise((resolve) => flooder.once('refused', resolve))
    for (let i = 0; i < 21; i++) flooder.emit('what-is-this', i)
    expect(await closed).toMatchObject({ code: 'unknown-events' })
    const unknown = connect(c.url, {
      transports: ['websocket'],
      reconnection: false,
      parser: packedParser,
      auth: { task: 'nowhere' },
    })
    c.sockets.push(unknown)
    const refusal = await new Promise((resolve) =>
      unknown.once('connect_error', (e) => resolve(connectRefusal(e))),
    )
    expect(refusal).toMatchObject({ code: 'unknown-task' })
    const scraped = await scrape()
    expect(sampleValue(scraped, 'fedtune_refused_messages_total', { code: 'no-hello' })).toBe(before + 1)
    expect(sampleValue(scraped, 'fedtune_refused_messages_total', { code: 'unknown-events' })).toBe(1)
    expect(
      sampleValue(scraped, 'fedtune_refused_messages_total', { code: 'unknown-task' }),
    ).toBeGreaterThanOrEqual(1)
  })

  it('failed sign-ins are counted by reason, never by the name tried', async () => {
    await addOperator(c.store, 'viewer', 'metered')
    const signIn = (name: string, password: string) =>
      fetch(`${c.url}/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, password }),
      })
    expect((await signIn('metered', 'not the password at all')).status).toBe(401)
    expect((await signIn('metered', 'still not the password')).status).toBe(401)
    expect((await signIn('nobody-by-this-name', TEST_PASSWORD)).status).toBe(401)
    expect((await signIn('metered', TEST_PASSWORD)).status).toBe(201)
    const scraped = await scrape()
    expect(sampleValue(scraped, 'fedtune_sign_in_failures_total', { reason: 'wrong-password' })).toBe(2)
    expect(sampleValue(scraped, 'fedtune_sign_in_failures_total', { reason: 'unknown-name' })).toBe(1)
    expect(scraped.samples.filter((s) => JSON.stringify(s.labels).includes('metered'))).toEqual([])
  })
})

describe('a run of two secure rounds, as its metrics tell it', () => {
  it('counts who is online by kind, the rounds by status, their stages, the unmasking and the bytes each way', async () => {
    const a = testParticipant(c, 'a')
    expect((await a.joined).ok).toBe(true)
    // one of the two a round needs: online, and no round yet
    const waiting = await scrape()
    expect(sampleValue(waiting, 'fedtune_participants_online', { task: 'main', kind: 'hospital' })).toBe(1)
    expect(sampleValue(waiting, 'fedtune_participants_online', { task: 'main', kind: 'browser' })).toBe(0)
    expect(
      sampleValue(waiting, 'fedtune_rounds_total', { task: 'main', status: 'aggregated' }),
    ).toBeUndefined()
    const b = testParticipant(c, 'b')
    expect((await b.joined).ok).toBe(true)
    expect(await c.federation.done).toMatchObject({ completed: 2 })

    const after = await scrape()
    expect(sampleValue(after, 'fedtune_rounds_total', { task: 'main', status: 'aggregated' })).toBe(2)
    expect(sampleValue(after, 'fedtune_rounds_total', { task: 'main', status: 'failed' })).toBeUndefined()
    expect(
      sampleValue(after, 'fedtune_round_duration_seconds_count', { task: 'main', status: 'aggregated' }),
    ).toBe(2)
    const roundSeconds = sampleValue(after, 'fedtune_round_duration_seconds_sum', {
      task: 'main',
      status: 'aggregated',
    })
    expect(roundSeconds).toBeCloseTo(c.records.reduce((sum, r) => sum + r.durationMs, 0) / 1000, 6)
    for (const stage of STAGE_NAMES) {
      const labels = { task: 'main', stage }
      expect(sampleValue(after, 'fedtune_stage_duration_seconds_count', labels), stage).toBe(2)
      // cumulative buckets: +Inf holds every observation
      expect(
        sampleValue(after, 'fedtune_stage_duration_seconds_bucket', { ...labels, le: '+Inf' }),
        stage,
      ).toBe(2)
      expect(sampleValue(after, 'fedtune_dropouts_total', labels), stage).toBe(0)
    }
    expect(sampleValue(after, 'fedtune_unmask_seconds_count', { task: 'main' })).toBe(2)
    expect(sampleValue(after, 'fedtune_unmask_seconds_sum', { task: 'main' })).toBeGreaterThanOrEqual(0)
    // two rounds of a 2,562-parameter head each way: the weights out, the masked inputs in
    expect(sampleValue(after, 'fedtune_bytes_total', { direction: 'in' })).toBeGreaterThan(2 * 2562 * 4)
    expect(sampleValue(after, 'fedtune_bytes_total', { direction: 'out' })).toBeGreaterThan(2 * 2 * 2562 * 4)
    // participants' names are in no label
    expect(after.samples.filter((s) => Object.values(s.labels).some((v) => v === 'a' || v === 'b'))).toEqual(
      [],
    )
  })
})

describe('--metrics-address: a port of its own', () => {
  it('serves GET /metrics without a token, the same registry as the main port, and 404 to anything else', async () => {
    expect(c.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    const url = c.metricsUrl as string
    const response = await fetch(url)
    expect(response.status).toBe(200)
    const scraped = parseExposition(await response.text())
    expect(scraped.families.get('fedtune_rounds_total')).toMatchObject({ type: 'counter' })
    expect(sampleValue(scraped, 'fedtune_rounds_total', { task: 'main', status: 'aggregated' })).toBe(2)
    const other = await fetch(url.replace(/\/metrics$/, '/api/status'))
    expect(other.status).toBe(404)
    expect(await other.text()).toBe('this port serves only GET /metrics; got GET "/api/status"\n')
    expect((await fetch(url, { method: 'POST' })).status).toBe(404)
  })
})

describe('a coordinator started without metrics', () => {
  it('answers /metrics with 404 saying how to enable it', async () => {
    const bare = await startTestCoordinator()
    const answer = await bare.app.inject({ method: 'GET', url: '/metrics' })
    expect(answer.statusCode).toBe(404)
    expect(answer.json()).toEqual({
      error: 'not-found',
      message:
        'this port serves no metrics: start the coordinator with --metrics-token-file <file> (then send "Authorization: Bearer <that token>") or with --metrics-address <host:port> (a port of their own, for Prometheus alone)',
    })
  })

  it('refuses to start with a metrics token too short to guard anything', async () => {
    await expect(startMainCoordinator({}, {}, { metrics: { token: 'short' } })).rejects.toThrow(
      'the metrics token: expected a metrics token of at least 16 characters, got 5',
    )
  })
})
