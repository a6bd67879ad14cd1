import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Link } from '@fedtune/coordinator'
import type { Finished, HelloAck, ReceivedRefusalCode, SecaggCrypto } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { describe, expect, it } from 'vitest'
import {
  MS,
  seedOf,
  silentFrom,
  sorted,
  startTestCoordinator,
  type TestCoordinator,
  testParticipant,
} from '../harness.ts'
import { storeWithViewer } from '../test-store.ts'

/**
 * Issue 11, "no input can end the process": a throw injected at each point where the coordinator
 * runs code (its timers, the federation's entry points, its dependencies, an HTTP handler) fails
 * at most the round it hits, with the reason, and the next round completes.
 */
/**
 * Round 1 failed with a reason matching `reason`, logged once (as that round's reason, not again as
 * a warning); round 2 aggregated.
 */
async function failsThenRecovers(h: TestCoordinator, reason: RegExp): Promise<void> {
  const first = await h.recorded(1)
  expect(first).toMatchObject({ status: 'failed' })
  expect(first.reason).toMatch(reason)
  expect(h.warnings.filter((w) => reason.test(w))).toEqual([])
  expect(await h.recorded(2)).toMatchObject({ status: 'aggregated' })
  expect(await h.federation.done).toMatchObject({ completed: 1, failed: 1 })
}

/** nodeCrypto with one of its methods failing once per `failNext` call. */
function faultyCrypto(method: 'randomBytes' | 'verify' | 'hmacSha512'): {
  crypto: SecaggCrypto
  failNext(): void
} {
  let failures = 0
  const original = nodeCrypto[method] as (...args: unknown[]) => unknown
  const crypto = {
    ...nodeCrypto,
    [method]: (...args: unknown[]) => {
      if (failures > 0) {
        failures -= 1
        throw new Error(`${method} failed`)
      }
      return original.apply(nodeCrypto, args)
    },
  } as SecaggCrypto
  return {
    crypto,
    failNext: () => {
      failures += 1
    },
  }
}

const joinAll = (...clients: { joined: Promise<HelloAck<ReceivedRefusalCode>> }[]) =>
  Promise.all(clients.map((c) => c.joined))

describe('a throw at every point the coordinator runs code', () => {
  it('in the gather window’s timer (the round cannot start): that round fails and the next completes', async () => {
    const { crypto, failNext } = faultyCrypto('randomBytes')
    const h = await startTestCoordinator({ crypto })
    const a = testParticipant(h, 'a')
    await joinAll(a, testParticipant(h, 'b'))
    failNext()
    h.clock.fire(MS.gather)
    expect(await h.recorded(1)).toMatchObject({ status: 'failed' })
    h.clock.fire(MS.gather)
    await failsThenRecovers(h, /starting round 1 failed: randomBytes failed/)
  })

  it('in the round deadline’s timer (closing the round): that round fails and the next completes', async () => {
    let failures = 1
    const h = await startTestCoordinator({
      secure: false,
      evaluate: () => {
        if (failures-- > 0) throw new Error('evaluate failed')
        return { validation: null, test: null }
      },
    })
    const a = testParticipant(h, 'a')
    const b = testParticipant(h, 'b')
    await joinAll(a, b, testParticipant(h, 'c', { alter: silentFrom(1, 'update') }))
    await Promise.all([a.acked(1, 'update'), b.acked(1, 'update')])
    h.clock.fire(MS.deadline)
    await failsThenRecovers(h, /closing round 1 failed: evaluate failed/)
  })

  it('in the join timeout’s timer (a link that cannot say finished): the run still ends and the others are told', async () => {
    const h = await startTestCoordinator({ minParticipants: 3 })
    const a = testParticipant(h, 'a')
    await a.joined
    const finished = new Promise<Finished>((resolve) => a.socket.once('finished', resolve))
    h.federation.join('broken', 'hospital', nodeCrypto.ed25519PublicKey(seedOf('broken')), brokenLink())
    h.clock.fire(MS.join)
    expect(await finished).toEqual({ rounds: 0, completed: 0 })
    expect(await h.federation.done).toMatchObject({ reason: expect.stringMatching(/joined in time/) })
    expect(h.warnings.filter((w) => /sending to broken failed: the link failed/.test(w))).toHaveLength(1)
  })

  for (const stage of ['advertise', 'share-keys', 'masked-input'] as const)
    it(`in the ${stage} stage’s deadline: that round fails and the next completes`, async () => {
      const h = await startTestCoordinator()
      const a = testParticipant(h, 'a')
      const b = testParticipant(h, 'b')
      await joinAll(a, b, testParticipant(h, 'c', { alter: silentFrom(1, stage) }))
      await Promise.all([a.acked(1, stage), b.acked(1, stage)])
      h.clock.failNext()
      h.clock.fire(stage === 'masked-input' ? MS.deadline : MS.stage)
      await failsThenRecovers(h, /secure stage deadline failed: the clock failed/)
    })

  it('in the unmask stage’s deadline (the coordinator’s crypto fails while unmasking): that round fails and the next completes', async () => {
    const { crypto, failNext } = faultyCrypto('hmacSha512')
    const h = await startTestCoordinator({ crypto })
    const a = testParticipant(h, 'a')
    const b = testParticipant(h, 'b')
    await joinAll(a, b, testParticipant(h, 'c', { alter: silentFrom(1, 'unmask') }))
    await Promise.all([a.acked(1, 'unmask'), b.acked(1, 'unmask')])
    failNext()
    h.clock.fire(MS.stage)
    const first = await h.recorded(1)
    expect(first.reason).toMatch(/secure aggregation failed: hmacSha512 failed/)
    expect(await h.recorded(2)).toMatchObject({ status: 'aggregated' })
    expect(await h.federation.done).toMatchObject({ completed: 1, failed: 1 })
  })

  it('in the unmasking’s promise (applying the unmasked sum): that round fails and the next completes', async () => {
    let failures = 1
    const h = await startTestCoordinator({
      evaluate: () => {
        if (failures-- > 0) throw new Error('evaluate failed')
        return { validation: null, test: null }
      },
    })
    await joinAll(testParticipant(h, 'a'), testParticipant(h, 'b'), testParticipant(h, 'c'))
    await failsThenRecovers(h, /closing round 1 failed: evaluate failed/)
  })

  it('in admission (the store cannot be read): the hello is refused with internal, nothing is enrolled, and a retry joins', async () => {
    let failures = 1
    const h = await startTestCoordinator({
      admission: (admission) => ({
        admit: (claim, address) =>
          failures-- > 0
            ? Promise.reject(new Error('the database is unreachable'))
            : admission.admit(claim, address),
      }),
    })
    const refused = await testParticipant(h, 'a').joined
    expect(refused).toMatchObject({
      ok: false,
      code: 'internal',
      reason: 'the coordinator failed on this message; its operator has the details',
    })
    expect(h.enrolled).toEqual([])
    await joinAll(testParticipant(h, 'a'), testParticipant(h, 'b'), testParticipant(h, 'c'))
    expect(await h.recorded(1)).toMatchObject({ status: 'aggregated' })
    expect(h.enrolled.sort()).toEqual(['a', 'b', 'c'])
  })

  it('in join (the hello that starts the round): that round fails and the next completes', async () => {
    const { crypto, failNext } = faultyCrypto('randomBytes')
    const h = await startTestCoordinator({ crypto })
    await joinAll(testParticipant(h, 'a'), testParticipant(h, 'b'))
    failNext()
    const c = testParticipant(h, 'c')
    expect(await c.joined).toMatchObject({ ok: true })
    await failsThenRecovers(h, /starting round 1 failed: randomBytes failed/)
    // the hello was accepted, and nothing says otherwise
    expect(h.warnings.filter((w) => /refused hello/.test(w))).toEqual([])
  })

  it('in leave (the last one waited for leaves and the stage closes): that round fails and the next completes', async () => {
    const h = await startTestCoordinator()
    const a = testParticipant(h, 'a')
    const b = testParticipant(h, 'b')
    const c = testParticipant(h, 'c', { alter: silentFrom(1, 'advertise') })
    await joinAll(a, b, c)
    await Promise.all([a.acked(1, 'advertise'), b.acked(1, 'advertise')])
    h.clock.failNext()
    c.socket.disconnect()
    const first = await h.recorded(1)
    expect(first.reason).toMatch(/c leaving failed: the clock failed/)
    // two are left, fewer than a full round: the gather window runs before round 2
    h.clock.fire(MS.gather)
    expect(sorted(await h.recorded(2))).toMatchObject({ status: 'aggregated', survivors: ['a', 'b'] })
  })

  it('in a secagg message (the coordinator’s crypto fails on it): the sender hears internal, that round fails and the next completes', async () => {
    const { crypto, failNext } = faultyCrypto('verify')
    failNext()
    const h = await startTestCoordinator({ crypto })
    const a = testParticipant(h, 'a')
    const b = testParticipant(h, 'b')
    const c = testParticipant(h, 'c')
    await joinAll(a, b, c)
    const acks = await Promise.all([a, b, c].map((p) => p.acked(1, 'advertise')))
    // the first advertisement hit the failure; the others came after round 1 had failed
    expect(acks.filter((ack) => !ack.ok && ack.code === 'internal')).toHaveLength(1)
    await failsThenRecovers(h, /secagg message failed: verify failed/)
  })

  it('in an update (the head cannot be written): that round fails and the next completes', async () => {
    let failures = 1
    const h = await startTestCoordinator({
      secure: false,
      recorder: (recorder) => ({
        commit: (record) => recorder.commit(record),
        writeHead: (round, weights, server) => {
          if (round > 0 && failures-- > 0) throw new Error('the disk is full')
          recorder.writeHead(round, weights, server)
        },
      }),
    })
    await joinAll(testParticipant(h, 'a'), testParticipant(h, 'b'), testParticipant(h, 'c'))
    await failsThenRecovers(h, /closing round 1 failed: the disk is full/)
  })

  it('in keeping a round (the store refuses it once): no round starts and nobody is told until it is kept, then the run goes on', async () => {
    let failures = 1
    const h = await startTestCoordinator({
      recorder: (recorder) => ({
        commit: async (record) => {
          if (failures-- > 0) throw new Error('the database is restarting')
          await recorder.commit(record)
        },
        writeHead: (round, weights, server) => recorder.writeHead(round, weights, server),
      }),
    })
    const all = [testParticipant(h, 'a'), testParticipant(h, 'b'), testParticipant(h, 'c')]
    await joinAll(...all)
    const told = new Promise((resolve) => all[0]?.socket.once('round-result', resolve))
    await h.warned(/round 1: could not be recorded \(the database is restarting\); trying again in 1 s/)
    expect(h.federation.committing).toBe(true)
    expect(h.records).toEqual([])
    h.clock.fire(1000)
    expect(await h.recorded(1)).toMatchObject({ status: 'aggregated' })
    expect(await told).toMatchObject({ round: 1, status: 'aggregated' })
    expect((await h.store.rounds.list(h.runId)).map((r) => r.round)).toEqual([1])
  })

  it('in a link’s send (a participant the coordinator cannot reach): only that participant drops, the round completes', async () => {
    const h = await startTestCoordinator({ participantsPerRound: 3, rounds: 1 })
    const a = testParticipant(h, 'a')
    const b = testParticipant(h, 'b')
    await joinAll(a, b)
    h.federation.join('broken', 'hospital', nodeCrypto.ed25519PublicKey(seedOf('broken')), brokenLink())
    await Promise.all([a.acked(1, 'advertise'), b.acked(1, 'advertise')])
    h.clock.fire(MS.stage)
    expect(sorted(await h.recorded(1))).toMatchObject({
      status: 'aggregated',
      survivors: ['a', 'b'],
      dropped: ['broken'],
    })
    expect(h.warnings.some((w) => /sending to broken failed: the link failed/.test(w))).toBe(true)
  })

  it('in an HTTP handler (a head that cannot be read): a 500 saying what failed, logged once, and the next round completes', async () => {
    const { store, viewer } = await storeWithViewer()
    const h = await startTestCoordinator({ rounds: 1, store })
    // a directory where the head file should be: reading it fails with EISDIR
    rmSync(join(h.runDir, 'heads', 'round-0000.f32'))
    mkdirSync(join(h.runDir, 'heads', 'round-0000.f32'))
    const response = await h.app.inject({ method: 'GET', url: '/api/rounds/0/head', headers: viewer })
    expect(response.statusCode).toBe(500)
    // the details (a path, an errno) stay in the operator's log
    expect(response.json()).toEqual({
      error: 'internal',
      message: 'the coordinator failed on this request; its log has the details',
    })
    expect(h.httpErrors).toHaveLength(1)
    expect(h.httpErrors[0]).toMatch(/^GET "\/api\/rounds\/0\/head" failed: .*EISDIR/)
    await joinAll(testParticipant(h, 'a'), testParticipant(h, 'b'), testParticipant(h, 'c'))
    expect(await h.recorded(1)).toMatchObject({ status: 'aggregated' })
  })
})

/** A participant whose every send throws: a connection the coordinator cannot write to. */
function brokenLink(): Link {
  const fail = () => {
    throw new Error('the link failed')
  }
  return { sendRound: fail, sendSecagg: fail, sendResult: fail, sendFinished: fail, close: fail }
}
