import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  accountedRounds,
  formatRecord,
  lostRoundRecord,
  type PrivateRun,
  parseTaskFile,
  privacySettingsFor,
  type RoundRecord,
  readUnmaskingMark,
} from '@fedtune/coordinator'
import { openStore } from '@fedtune/coordinator/store'
import {
  type Finished,
  formatEpsilon,
  type HelloAck,
  PRIVATE_NO_EVALUATION,
  parseRoundResult,
  type ReceivedRefusalCode,
  type RoundResult,
} from '@fedtune/protocol'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  filled,
  head,
  params,
  silentFrom,
  sorted,
  startTestCoordinator,
  type TestParticipant,
  testDatabase,
  testParticipant,
} from '../harness.ts'
import { fullBatchAccountant, twoRoundsKept } from '../privacy-fixture.ts'
import { bearerFor } from '../test-store.ts'

/**
 * Issue 16 over real sockets: a private task's secure sum carries [Δ…, 1] and no counts, its mean is
 * over the survivors whatever examples each had, every round's record and result say the ε spent,
 * and the run ends as finished before a round that could take ε past the target.
 */
const joinAll = (...clients: { joined: Promise<HelloAck<ReceivedRefusalCode>> }[]) =>
  Promise.all(clients.map((c) => c.joined))

/** The harness's task (head a/b over 8 features) with `privacy`, served as the coordinator would. */
function privateRun(privacy: Record<string, unknown>, more: Record<string, unknown> = {}): PrivateRun {
  const file = parseTaskFile(
    {
      name: 'test-task',
      backbone: { source: '/unused', sha256: 'ab'.repeat(32) },
      head: { labels: [...head.labels] },
      training: { rounds: 5 },
      participation: { minParticipants: 2, participantsPerRound: 3 },
      privacy,
      ...more,
    },
    '/srv',
  )
  if (file.privacy === null) throw new Error('expected a private task')
  const found = privacySettingsFor({ ...file, privacy: file.privacy }, params)
  if (!found.ok) throw new Error(JSON.stringify(found.problems))
  return found.value
}

/** The head a round wrote into the run folder. */
function headAfter(runDir: string, round: number): Float32Array {
  const bytes = readFileSync(join(runDir, 'heads', `round-${String(round).padStart(4, '0')}.f32`))
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
}

/** The first `count` round results participant `p` hears. */
function results(
  p: { socket: { on(event: string, fn: (raw: unknown) => void): void } },
  count: number,
): Promise<RoundResult[]> {
  const heard: RoundResult[] = []
  return new Promise((resolve) =>
    p.socket.on('round-result', (raw) => {
      heard.push(parseRoundResult(raw))
      if (heard.length === count) resolve(heard)
    }),
  )
}

describe('a private secure round', () => {
  it('moves the head by the mean of the survivors’ updates, however many examples each claims, with no counts and ε recorded', async () => {
    const privacy = privateRun({ unit: 'example', epsilon: 8, noiseMultiplier: 1.1 })
    const h = await startTestCoordinator({ rounds: 1, privacy })
    const a = testParticipant(h, 'a', { delta: filled(0.3), examples: 10 })
    const b = testParticipant(h, 'b', { delta: filled(0.6), examples: 1000 })
    const c = testParticipant(h, 'c', { delta: filled(-0.3), examples: 1 })
    const heard = results(a, 1)
    await joinAll(a, b, c)
    const record = sorted(await h.recorded(1))
    expect(record).toMatchObject({
      status: 'aggregated',
      survivors: ['a', 'b', 'c'],
      examples: 0,
      labelCounts: null,
      participants: null,
      participantsReason: PRIVATE_NO_EVALUATION,
      warnings: [],
      privacy: {
        unit: 'example',
        epsilon: privacy.budget.epsilonAfter([3]),
        delta: 1e-5,
        target: 8,
        survivors: 3,
      },
    })
    // (0.3 + 0.6 − 0.3) / 3, to the fixed point's resolution: uniform, not weighted by 10:1000:1
    for (const w of headAfter(h.runDir, 1)) expect(w).toBeCloseTo(0.2, 6)
    expect(await h.federation.done).toMatchObject({ reason: 'all 1 rounds done' })
    expect(await heard).toEqual([
      expect.objectContaining({ round: 1, status: 'aggregated', epsilon: record.privacy?.epsilon }),
    ])
  })

  it('divides by the survivors when a count word disagrees, and says so in the round’s warnings', async () => {
    const privacy = privateRun({ unit: 'example', epsilon: 8, noiseMultiplier: 1.1 })
    const h = await startTestCoordinator({ rounds: 1, privacy })
    // c adds 1 to the count word of its masked vector: masks cancel in the sum, the 1 stays
    const liar = testParticipant(h, 'c', {
      delta: filled(0.3),
      alter: (message) => {
        if (message.stage !== 'masked-input') return message
        const masked = new Uint8Array(message.masked)
        const view = new DataView(masked.buffer)
        view.setUint32(masked.length - 4, view.getUint32(masked.length - 4, true) + 1, true)
        return { ...message, masked }
      },
    })
    await joinAll(
      testParticipant(h, 'a', { delta: filled(0.3) }),
      testParticipant(h, 'b', { delta: filled(0.3) }),
      liar,
    )
    const record = await h.recorded(1)
    expect(record.warnings).toEqual([
      "the sum's count word says 4 contributors, secure aggregation 3 survivors: a survivor sent a count other than 1; the mean divides by 3",
    ])
    for (const w of headAfter(h.runDir, 1)) expect(w).toBeCloseTo(0.3, 6)
  })
})

/** z = 2, full batch, one step a round, in plaintext-debug: a target between two and three rounds' ε. */
function twoRoundsOfBudget() {
  const accountant = fullBatchAccountant(5)
  const target = (accountant.epsilonAfter([2, 2]) + accountant.epsilonAfter([2, 2, 2])) / 2
  const privacy = privateRun(
    { unit: 'example', epsilon: Number(target.toFixed(6)), noiseMultiplier: 2 },
    { aggregation: { mode: 'plaintext-debug' } },
  )
  return { accountant, privacy }
}

describe('the coordinator’s budget', () => {
  it('counts a secure round that fails after its sum was unmasked, with its survivors: in the record, the log line, the status and a restart', async () => {
    const privacy = privateRun({ unit: 'example', epsilon: 8, noiseMultiplier: 1.1 })
    const store = await openStore(await testDatabase())
    onTestFinished(() => store.close())
    const viewer = await bearerFor(store, 'viewer')
    // the sum of round 1 is unmasked and averaged, then its head cannot be kept: the round fails
    const h = await startTestCoordinator({
      rounds: 2,
      privacy,
      store,
      recorder: (recorder) => ({
        writeHead(round, weights, server) {
          if (round === 1) throw new Error('disk full')
          recorder.writeHead(round, weights, server)
        },
        commit: (record) => recorder.commit(record),
      }),
    })
    const a = testParticipant(h, 'a', { delta: filled(0.3) })
    const heard = results(a, 2)
    await joinAll(
      a,
      testParticipant(h, 'b', { delta: filled(0.3) }),
      testParticipant(h, 'c', { delta: filled(0.3) }),
    )
    const first = await h.recorded(1)
    expect(first).toMatchObject({
      status: 'failed',
      reason: 'closing round 1 failed: disk full',
      privacy: { unit: 'example', epsilon: privacy.budget.epsilonAfter([3]), survivors: 3 },
    })
    expect(formatRecord(first, 2)).toContain(
      `FAILED  closing round 1 failed: disk full  ε ${formatEpsilon(privacy.budget.epsilonAfter([3]))}/8.00`,
    )
    const second = await h.recorded(2)
    expect(second).toMatchObject({
      status: 'aggregated',
      privacy: { epsilon: privacy.budget.epsilonAfter([3, 3]), survivors: 3 },
    })
    await h.federation.done
    expect(h.federation.privacy).toMatchObject({ epsilon: privacy.budget.epsilonAfter([3, 3]), rounds: 2 })
    expect((await h.app.inject({ method: 'GET', url: '/api/status', headers: viewer })).json()).toMatchObject(
      { privacy: { epsilon: privacy.budget.epsilonAfter([3, 3]), rounds: 2 } },
    )
    // the failed round tells what its record says: ε with it, and the 3 whose sum it released
    expect((await heard).map((r) => [r.status, r.participants, r.epsilon])).toEqual([
      ['failed', 3, privacy.budget.epsilonAfter([3])],
      ['aggregated', 3, privacy.budget.epsilonAfter([3, 3])],
    ])
    // rounds.svg charts both rounds' ε, the failed one's included
    const chart = readFileSync(join(h.runDir, 'rounds.svg'), 'utf8')
    expect([...chart.matchAll(/<title>([^<]+)<\/title>/g)].map((m) => m[1])).toEqual([
      `round 1: ε ${formatEpsilon(privacy.budget.epsilonAfter([3]))} of 8.00`,
      `round 2: ε ${formatEpsilon(privacy.budget.epsilonAfter([3, 3]))} of 8.00`,
    ])
    // a restart (--resume) rebuilds the account from the kept rounds, the failed one included
    expect(accountedRounds((await store.rounds.list<RoundRecord>(h.runId)).map((r) => r.record))).toEqual([
      3, 3,
    ])
  })

  it('counts a secure round the run is stopped in during its unmask stage: recorded, told, in the status and for a restart', async () => {
    const privacy = privateRun({ unit: 'example', epsilon: 8, noiseMultiplier: 1.1 })
    const store = await openStore(await testDatabase())
    onTestFinished(() => store.close())
    const viewer = await bearerFor(store, 'viewer')
    const h = await startTestCoordinator({ rounds: 2, privacy, store })
    // all three send their masked inputs, then hold back their unmasking shares
    const holding = { delta: filled(0.3), alter: silentFrom(1, 'unmask') }
    const [a, b, c] = ['a', 'b', 'c'].map((name) => testParticipant(h, name, holding)) as [
      TestParticipant,
      TestParticipant,
      TestParticipant,
    ]
    const asked = new Promise<void>((resolve) =>
      a.socket.on('secagg', (raw: { stage: string }) => raw.stage === 'unmask' && resolve()),
    )
    const heard = results(a, 1)
    const finished = new Promise<Finished>((resolve) => a.socket.once('finished', resolve))
    await joinAll(a, b, c)
    await asked
    expect(h.federation.secureStage).toMatchObject({ stage: 'unmask' })
    // kept on disk before any share was asked for: had the coordinator crashed here, a restart
    // would keep the round as failed and account it (privacy/unmasking-mark.ts)
    const mark = readUnmaskingMark(h.runDir)
    expect(mark).toMatchObject({ round: 1, survivors: 3 })
    expect([...(mark?.selected ?? [])].sort()).toEqual(['a', 'b', 'c'])
    expect(lostRoundRecord(mark, [], privacy.budget, Date.now())?.privacy).toMatchObject({
      epsilon: privacy.budget.epsilonAfter([3]),
      survivors: 3,
    })
    h.federation.stop('stopped by alice', 'alice')
    expect(await h.federation.done).toEqual({ reason: 'stopped by alice', completed: 0, failed: 1 })
    const epsilon = privacy.budget.epsilonAfter([3])
    expect(await h.recorded(1)).toMatchObject({
      status: 'failed',
      reason:
        "the run stopped during the round's unmask stage (stopped by alice); its 3 survivors are accounted",
      privacy: { unit: 'example', epsilon, survivors: 3 },
    })
    // told before the end, as any kept round
    expect(await heard).toEqual([
      expect.objectContaining({ round: 1, status: 'failed', participants: 3, epsilon }),
    ])
    expect(await finished).toEqual({ rounds: 1, completed: 0 })
    expect([a, b, c].flatMap((p) => p.sent).filter((s) => s.stage === 'unmask')).toEqual([])
    expect(h.federation.privacy).toMatchObject({ epsilon, rounds: 1 })
    expect((await h.app.inject({ method: 'GET', url: '/api/status', headers: viewer })).json()).toMatchObject(
      { privacy: { epsilon, rounds: 1 } },
    )
    // kept in the store: a restart (--resume after the coordinator closed) accounts it again, once
    const kept = (await store.rounds.list<RoundRecord>(h.runId)).map((r) => r.record)
    expect(accountedRounds(kept)).toEqual([3])
    expect(lostRoundRecord(mark, kept, privacy.budget, Date.now())).toBeNull()
  })

  it('a round whose unmasking mark cannot be kept fails before any share is asked for, and costs nothing', async () => {
    const privacy = privateRun({ unit: 'example', epsilon: 8, noiseMultiplier: 1.1 })
    const h = await startTestCoordinator({
      rounds: 1,
      privacy,
      recorder: (recorder) => ({
        writeHead: (round, weights, server) => recorder.writeHead(round, weights, server),
        commit: (record) => recorder.commit(record),
        markUnmasking() {
          throw new Error('disk full')
        },
      }),
    })
    const [a, b, c] = ['a', 'b', 'c'].map((name) => testParticipant(h, name, { delta: filled(0.3) })) as [
      TestParticipant,
      TestParticipant,
      TestParticipant,
    ]
    const asked: string[] = []
    a.socket.on('secagg', (raw: { stage: string }) => asked.push(raw.stage))
    await joinAll(a, b, c)
    expect(await h.recorded(1)).toMatchObject({
      status: 'failed',
      reason: "round 1's unmasking failed: disk full",
      privacy: { epsilon: 0, survivors: 0 },
    })
    await h.federation.done
    expect(asked).not.toContain('unmask')
    expect(h.federation.privacy).toMatchObject({ epsilon: 0, rounds: 0 })
  })

  it('a restarted run whose kept rounds leave no budget for another ends as it opens, waiting for nobody', async () => {
    const { accountant, privacy } = twoRoundsOfBudget()
    const h = await startTestCoordinator({
      secure: false,
      rounds: 5,
      gatherMs: 0,
      privacy,
      resumed: { ...twoRoundsKept, global: new Float32Array(params) },
    })
    expect(await h.federation.done).toEqual({
      reason: `privacy budget: round 3 would take ε to ${accountant.epsilonAfter([2, 2, 2]).toFixed(2)} > target ${privacy.settings.epsilon.toFixed(2)} (δ = 1e-5, 2 rounds accounted so far)`,
      completed: 2,
      failed: 0,
    })
    expect(h.federation.state).toMatchObject({ phase: 'finished', round: 2 })
  })

  it('records ε after every round and ends the run, finished, before a round that could pass the target', async () => {
    const { accountant, privacy } = twoRoundsOfBudget()
    // the operators' store on the run's PostgreSQL server, with a viewer for /api/status
    const store = await openStore(await testDatabase())
    onTestFinished(() => store.close())
    const viewer = await bearerFor(store, 'viewer')
    const h = await startTestCoordinator({ secure: false, rounds: 5, gatherMs: 0, privacy, store })
    const a = testParticipant(h, 'a', { delta: filled(0.1) })
    const heard = results(a, 2)
    await joinAll(a, testParticipant(h, 'b', { delta: filled(0.3) }))
    const first = await h.recorded(1)
    const second = await h.recorded(2)
    expect([first.privacy, second.privacy]).toEqual([
      {
        unit: 'example',
        epsilon: accountant.epsilonAfter([2]),
        delta: 1e-5,
        target: privacy.settings.epsilon,
        survivors: 2,
      },
      {
        unit: 'example',
        epsilon: accountant.epsilonAfter([2, 2]),
        delta: 1e-5,
        target: privacy.settings.epsilon,
        survivors: 2,
      },
    ])
    const done = await h.federation.done
    expect(done).toEqual({
      reason: `privacy budget: round 3 would take ε to ${accountant.epsilonAfter([2, 2, 2]).toFixed(2)} > target ${privacy.settings.epsilon.toFixed(2)} (δ = 1e-5, 2 rounds accounted so far)`,
      completed: 2,
      failed: 0,
    })
    expect(h.federation.state).toMatchObject({ phase: 'finished', round: 2 })
    expect(h.federation.privacy).toEqual({
      unit: 'example',
      epsilon: accountant.epsilonAfter([2, 2]),
      delta: 1e-5,
      target: privacy.settings.epsilon,
      rounds: 2,
    })
    // the operator's views: the status API and the log line
    expect((await h.app.inject({ method: 'GET', url: '/api/status', headers: viewer })).json()).toMatchObject(
      {
        phase: 'finished',
        privacy: { unit: 'example', epsilon: accountant.epsilonAfter([2, 2]), rounds: 2 },
      },
    )
    expect(formatRecord(second, 5)).toContain(
      `  ε ${formatEpsilon(accountant.epsilonAfter([2, 2]))}/${formatEpsilon(privacy.settings.epsilon)}`,
    )
    // a restart rebuilds the same account from the kept rounds
    expect(accountedRounds(h.records)).toEqual([2, 2])
    expect((await heard).map((r) => r.epsilon)).toEqual([first.privacy?.epsilon, second.privacy?.epsilon])
    // the plaintext mean is uniform too: (0.1 + 0.3) / 2 a round
    expect(h.federation.global[0]).toBeCloseTo(0.4, 6)
  })

  it('a run without privacy records none and tells participants no ε', async () => {
    const h = await startTestCoordinator({ secure: false, rounds: 1, gatherMs: 0 })
    const a = testParticipant(h, 'a')
    const heard = results(a, 1)
    await joinAll(a, testParticipant(h, 'b'))
    expect(await h.recorded(1)).toMatchObject({ privacy: null })
    await h.federation.done
    expect(await heard).toEqual([expect.objectContaining({ epsilon: null })])
    expect(h.federation.privacy).toBeNull()
  })
})
