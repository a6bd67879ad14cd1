import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Store } from '@fedtune/coordinator/store'
import * as fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCoordinator, type TestCoordinator } from '../harness.ts'
import { storeWithViewer } from '../test-store.ts'
import { CASE_BOUND_MS, CaseTally, cpuMs, reportTally, runs } from './fuzz.ts'

/**
 * The coordinator's HTTP routes with random paths and parameters, through `app.inject()`: the
 * round number of /api/rounds/<n>/head, the digest and file of /backbone/<digest>/<file>, any path
 * under /join, and paths that match nothing. Every answer is one of the statuses below — never a
 * 500 — and /join never serves a file from outside its folder or a hidden one.
 *
 * Cases in this file: 2,500 requests (of the ≥ 100,000 cases the fuzz files run together).
 */
const tally = new CaseTally()
afterAll(() => reportTally('http routes', tally))

/**
 * 200 and 304 (a file, or the same ETag), 400 (a malformed URL), 404 (nothing there), 503 (no
 * browser page built), and 414 (fastify's own refusal of a route parameter over its length limit).
 */
const ALLOWED = new Set([200, 304, 400, 404, 414, 503])
/** An anonymous request to a route for operators is also answered 401. */
const ALLOWED_ANONYMOUS = new Set([...ALLOWED, 401])
const SECRET = 'the coordinator’s private key, which no URL may reach'

const sha = (b: string) => createHash('sha256').update(b).digest('hex')

/** A plaintext task open to browsers, with `secret.txt` beside the backbone and web folders; with or without a built page. */
function serve(withPage: boolean, store: Store): Promise<TestCoordinator> {
  return startTestCoordinator({
    store,
    // one store, two tasks
    name: withPage ? 'with-page' : 'without-page',
    secure: false,
    rounds: 3,
    participantsPerRound: 2,
    browsers: { maxPerRound: 1 },
    web: (root) => {
      const webDir = join(root, 'web')
      mkdirSync(join(webDir, 'assets'), { recursive: true })
      writeFileSync(join(root, 'secret.txt'), SECRET)
      writeFileSync(join(webDir, '.env'), SECRET)
      writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>join</title>')
      writeFileSync(join(webDir, 'assets', 'app-1234.js'), 'console.log(1)')
      return withPage ? webDir : undefined
    },
  })
}

let withPage: TestCoordinator
let withoutPage: TestCoordinator
let store: Store
let viewer: { authorization: string }
beforeAll(async () => {
  ;({ store, viewer } = await storeWithViewer())
  withPage = await serve(true, store)
  withoutPage = await serve(false, store)
})
afterAll(async () => {
  await withPage.close()
  await withoutPage.close()
  await store.close()
})

/** One path segment as a client might send it: plain, percent-encoded, or deliberately broken. */
const segment = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 20 }).map(encodeURIComponent) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map(encodeURIComponent) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '',
      '.',
      '..',
      '%2e%2e',
      '%2E%2E%2F',
      '..%2f..%2fsecret.txt',
      '..%5c..%5csecret.txt',
      '%00',
      '%',
      '%zz',
      '%c0%ae',
      '%ef%bf%bf',
      '.env',
      'index.html',
      'assets',
      'model.json',
      '0',
      '-0',
      '1e2',
      '0x1',
      '%201',
      '00',
      '1.0',
      '9007199254740993',
      'Infinity',
      'NaN',
      '__proto__',
      'constructor',
    ),
  },
  { weight: 1, arbitrary: fc.nat({ max: 600 }).map((n) => 'a'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: -5, max: 5 }).map(String) },
)
const pathOf = (segments: readonly string[]) => segments.join('/')

const request = fc.oneof(
  segment.map((n) => ({ url: `/api/rounds/${n}/head` })),
  fc
    .tuple(fc.oneof(segment, fc.constant('VALID')), fc.array(segment, { minLength: 1, maxLength: 4 }))
    .map(([digest, file]) => ({
      url: `/backbone/${digest}/${pathOf(file)}`,
    })),
  fc.array(segment, { maxLength: 5 }).map((p) => ({ url: `/join/${pathOf(p)}` })),
  fc.constantFrom({ url: '/join' }, { url: '/join/' }, { url: '/api/rounds/0/head' }),
  fc.array(segment, { maxLength: 6 }).map((p) => ({ url: `/${pathOf(p)}` })),
)

describe('fuzzing the HTTP routes: never a 500, never a file from outside', () => {
  it('random paths and route parameters, with and without the browser page, with random ETags', async () => {
    await fc.assert(
      fc.asyncProperty(
        request,
        fc.boolean(),
        fc.oneof(fc.constant(undefined), fc.string({ maxLength: 70 }), fc.constant('valid')),
        fc.constantFrom('GET', 'HEAD'),
        fc.boolean(),
        async ({ url }, page, ifNoneMatch, method, signedIn) => {
          const s = page ? withPage : withoutPage
          const etag = ifNoneMatch === 'valid' ? `"${sha('{"format":"layers-model"}')}"` : ifNoneMatch
          const started = process.cpuUsage()
          const reply = await s.app.inject({
            method: method as 'GET' | 'HEAD',
            url: url.replace('/backbone/VALID/', `/backbone/${s.digest}/`),
            headers: {
              ...(signedIn ? viewer : {}),
              ...(etag === undefined ? {} : { 'if-none-match': etag.replace(/[^\x20-\x7e]/g, '') }),
            },
          })
          const ms = cpuMs(started)
          tally.cases++
          tally.slowestMs = Math.max(tally.slowestMs, ms)
          tally.byCode.set(String(reply.statusCode), (tally.byCode.get(String(reply.statusCode)) ?? 0) + 1)
          expect(
            signedIn ? ALLOWED : ALLOWED_ANONYMOUS,
            `${method} ${url} answered ${reply.statusCode}: ${reply.body.slice(0, 200)}`,
          ).toContain(reply.statusCode)
          expect(reply.body).not.toContain(SECRET)
          expect(ms, `${method} ${url}`).toBeLessThan(CASE_BOUND_MS)
        },
      ),
      runs(2500),
    )
  })

  it('a /join file name longer than the file system allows is a 404 that names no server path, not a 500', async () => {
    const reply = await withPage.app.inject({ method: 'GET', url: `/join/${'a'.repeat(300)}` })
    expect(reply.statusCode).toBe(404)
    expect(reply.body).not.toContain(tmpdir())
  })
})
