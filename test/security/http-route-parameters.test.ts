import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp, FEDAVG, Federation, RoundLog } from '@fedtune/coordinator'
import type { TaskInfo } from '@fedtune/protocol'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { head, ONE_SGD_EPOCH, params } from '../harness.ts'

/**
 * Issue 11, finding 6: route parameters are parsed as strictly as the wire. A round number is
 * canonical decimal digits (Number() took "", "-0", "1e2", "0x1" and " 1"); a backbone digest is
 * 64 lowercase hex digits. Anything else is a 400 saying what was expected and what arrived.
 */
const sha = (b: string) => createHash('sha256').update(b).digest('hex')
const ROUNDS_DONE = 3
let dir: string
let app: FastifyInstance
let federation: Federation
let digest: string

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fedtune-routes-'))
  const modelJson = '{"format":"layers-model"}'
  writeFileSync(join(dir, 'model.json'), modelJson)
  const files = [{ name: 'model.json', sha256: sha(modelJson), bytes: modelJson.length }]
  digest = sha(`${files[0]?.sha256}  model.json\n`)
  const task: TaskInfo = {
    taskId: 'routes',
    name: 'routes',
    description: '',
    rounds: 10,
    backbone: { digest, path: `/backbone/${digest}/`, files, inputSize: 224, embeddingDim: 8 },
    head,
    paramCount: params,
    aggregation: 'plaintext-debug',
    browsers: { enabled: false, maxPerRound: 1 },
  }
  const log = new RoundLog(join(dir, 'run'))
  // a run resumed after round 3, with the head after each of rounds 0 to 3 on disk
  for (let round = 0; round <= ROUNDS_DONE; round++)
    log.writeHead(round, new Float32Array(params).fill(round))
  federation = new Federation({
    task,
    config: {
      rounds: 10,
      minParticipants: 2,
      participantsPerRound: 2,
      maxBrowsersPerRound: 0,
      seed: 1,
      server: FEDAVG,
      secure: false,
      gatherMs: 0,
    },
    initial: new Float32Array(params),
    resumed: {
      round: ROUNDS_DONE,
      completed: ROUNDS_DONE,
      failed: 0,
      server: null,
      labelCounts: null,
      global: new Float32Array(params).fill(ROUNDS_DONE),
    },
    labelPrior: 'local',
    training: ONE_SGD_EPOCH,
    roundDeadlineMs: 60_000,
    joinTimeoutMs: 60_000,
    log,
    secure: null,
  })
  app = buildApp({ backbone: { dir, digest, files }, federation, log })
  await app.ready()
})

afterAll(async () => {
  federation.stop('test over')
  await app.close()
  rmSync(dir, { recursive: true, force: true })
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
      const response = await app.inject({ method: 'GET', url: `/api/rounds/${raw}/head` })
      expect(response.statusCode).toBe(400)
      expect(response.json()).toEqual({
        error: 'bad-request',
        message: `expected a round number in decimal digits (no sign, spaces or leading zeros), got ${JSON.stringify(decodeURIComponent(raw))}`,
      })
    })

  it('rounds 0 to n are served, each its own head', async () => {
    for (let round = 0; round <= ROUNDS_DONE; round++) {
      const response = await app.inject({ method: 'GET', url: `/api/rounds/${round}/head` })
      expect(response.statusCode).toBe(200)
      expect(Array.from(new Float32Array(new Uint8Array(response.rawPayload).buffer))).toEqual(
        Array(params).fill(round),
      )
    }
  })

  it('a round after the last one is a 404 saying which rounds there are', async () => {
    for (const round of [String(ROUNDS_DONE + 1), '123456789012345678901234567890']) {
      const response = await app.inject({ method: 'GET', url: `/api/rounds/${round}/head` })
      expect(response.statusCode).toBe(404)
      expect(response.json().message).toMatch(`expected a round from 0 to ${ROUNDS_DONE}, got`)
    }
  })

  it('a backbone digest that is not 64 lowercase hex digits is a 400; an unknown one a 404', async () => {
    for (const raw of ['abc', digest.toUpperCase(), `${digest}0`, '%20'.repeat(3)]) {
      const response = await app.inject({ method: 'GET', url: `/backbone/${raw}/model.json` })
      expect(response.statusCode).toBe(400)
      expect(response.json().message).toMatch(/^expected a backbone digest of 64 lowercase hex digits, got /)
    }
    const unknown = await app.inject({ method: 'GET', url: `/backbone/${'0'.repeat(64)}/model.json` })
    expect(unknown.statusCode).toBe(404)
    const served = await app.inject({ method: 'GET', url: `/backbone/${digest}/model.json` })
    expect(served.statusCode).toBe(200)
  })
})
