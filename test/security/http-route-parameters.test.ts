import { RoundLog } from '@fedtune/coordinator'
import type { Store } from '@fedtune/coordinator/store'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { params, startTestCoordinator, type TestCoordinator } from '../harness.ts'
import { storeWithViewer } from '../test-store.ts'

/**
 * Issue 11, finding 6: route parameters are parsed as strictly as the wire. A round number is
 * canonical decimal digits (Number() took "", "-0", "1e2", "0x1" and " 1"); a backbone digest is
 * 64 lowercase hex digits. Anything else is a 400 saying what was expected and what arrived.
 */
const ROUNDS_DONE = 3
let h: TestCoordinator
let store: Store
let viewer: { authorization: string }

beforeAll(async () => {
  ;({ store, viewer } = await storeWithViewer())
  // a plaintext run resumed after round 3, with the head after each of rounds 0 to 3 on disk
  h = await startTestCoordinator({
    store,
    secure: false,
    rounds: 10,
    participantsPerRound: 2,
    resumed: {
      round: ROUNDS_DONE,
      completed: ROUNDS_DONE,
      failed: 0,
      server: null,
      labelCounts: null,
      global: new Float32Array(params).fill(ROUNDS_DONE),
    },
  })
  const log = new RoundLog(h.runDir)
  for (let round = 0; round <= ROUNDS_DONE; round++)
    log.writeHead(round, new Float32Array(params).fill(round))
})

afterAll(async () => {
  await h.close()
  await store.close()
})

describe('HTTP route parameters', () => {
  // as they arrive in the path, percent-encoded where a URL needs it
  const badRounds = [
    '',
    '-0',
    '1e2',
    '0x1',
    '%201',
    '1%20',
    '01',
    '+1',
    '1.0',
    '-1',
    'NaN',
    'Infinity',
    '1_0',
    '%00',
    'a',
  ]
  for (const raw of badRounds)
    it(`a round number of ${JSON.stringify(decodeURIComponent(raw))} is a 400 saying a decimal round number was expected`, async () => {
      const response = await h.app.inject({ method: 'GET', url: `/api/rounds/${raw}/head`, headers: viewer })
      expect(response.statusCode).toBe(400)
      expect(response.json()).toEqual({
        error: 'bad-request',
        message: `expected a round number in decimal digits (no sign, spaces or leading zeros), got ${JSON.stringify(decodeURIComponent(raw))}`,
      })
    })

  it('rounds 0 to n are served, each its own head', async () => {
    for (let round = 0; round <= ROUNDS_DONE; round++) {
      const response = await h.app.inject({
        method: 'GET',
        url: `/api/rounds/${round}/head`,
        headers: viewer,
      })
      expect(response.statusCode).toBe(200)
      expect(Array.from(new Float32Array(new Uint8Array(response.rawPayload).buffer))).toEqual(
        Array(params).fill(round),
      )
    }
  })

  it('a round after the last one is a 404 saying which rounds there are', async () => {
    for (const round of [String(ROUNDS_DONE + 1), '123456789012345678901234567890']) {
      const response = await h.app.inject({
        method: 'GET',
        url: `/api/rounds/${round}/head`,
        headers: viewer,
      })
      expect(response.statusCode).toBe(404)
      expect(response.json().message).toMatch(`expected a round from 0 to ${ROUNDS_DONE}, got`)
    }
  })

  it('a backbone digest that is not 64 lowercase hex digits is a 400; an unknown one a 404', async () => {
    for (const raw of ['abc', h.digest.toUpperCase(), `${h.digest}0`, '%20'.repeat(3)]) {
      const response = await h.app.inject({ method: 'GET', url: `/backbone/${raw}/model.json` })
      expect(response.statusCode).toBe(400)
      expect(response.json().message).toMatch(/^expected a backbone digest of 64 lowercase hex digits, got /)
    }
    const unknown = await h.app.inject({ method: 'GET', url: `/backbone/${'0'.repeat(64)}/model.json` })
    expect(unknown.statusCode).toBe(404)
    const served = await h.app.inject({ method: 'GET', url: `/backbone/${h.digest}/model.json` })
    expect(served.statusCode).toBe(200)
  })
})
