import { existsSync } from 'node:fs'
import { join } from 'node:path'
import {
  type ControlEvent,
  type Effect,
  FEDAVG,
  initialState,
  type RoundConfig,
  type RoundEvent,
  type RoundState,
  RunControlError,
  step,
} from '@fedtune/coordinator'
import type { Finished, HelloAck, ReceivedRefusalCode, RoundResult } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import {
  MS,
  silentFrom,
  sorted,
  startTestCoordinator,
  type TestCoordinator,
  testParticipant,
} from '../harness.ts'

/**
 * Issue 12, item 2: an operator steers a run — pauses it after the current round, resumes it, aborts
 * the current round, extends its deadline, stops it — and each action is reported for the audit log.
 */
const joinAll = (...clients: { joined: Promise<HelloAck<ReceivedRefusalCode>> }[]) =>
  Promise.all(clients.map((c) => c.joined))

const headOf = (h: TestCoordinator, round: number) =>
  join(h.runDir, 'heads', `round-${String(round).padStart(4, '0')}.f32`)

/** What `fn` threw, for a test that checks its class and code as well as its message. */
function thrown(fn: () => void): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw, got none')
}

const config: RoundConfig = {
  rounds: 3,
  minParticipants: 2,
  participantsPerRound: 2,
  maxBrowsersPerRound: 0,
  seed: 1,
  server: FEDAVG,
  secure: true,
  gatherMs: 0,
}

function run(state: RoundState, ...events: RoundEvent[]): [RoundState, Effect[]] {
  let effects: Effect[] = []
  for (const event of events) {
    const [next, out] = step(state, event)
    state = next
    effects = [...effects, ...out]
  }
  return [state, effects]
}

const types = (effects: Effect[]) => effects.map((e) => e.type)
const joined = (participant: string): RoundEvent => ({ type: 'joined', participant, kind: 'hospital' })

describe('the round logic under run control', () => {
  it('paused, a round in progress still ends, then none starts and the join timeout ends nothing until resumed', () => {
    let [state, effects] = run(initialState(config, new Float32Array(2)), joined('a'), joined('b'))
    expect(state).toMatchObject({ phase: 'training', round: 1 })
    ;[state, effects] = run(state, { type: 'pause' }, { type: 'secure-failed', round: 1, reason: 'too few' })
    expect(types(effects)).toEqual(['round-failed'])
    expect(state).toMatchObject({ phase: 'waiting', round: 1, paused: true })
    ;[state, effects] = run(state, { type: 'join-timeout' }, joined('c'), { type: 'gather-timeout' })
    expect(effects).toEqual([])
    expect(state).toMatchObject({ phase: 'waiting', round: 1, paused: true })
    ;[state, effects] = run(state, { type: 'resume' })
    expect(types(effects)).toEqual(['start-round'])
    expect(state).toMatchObject({ phase: 'training', round: 2, paused: false })
  })

  it('resumed before the round in progress ends, the run goes on as if never paused', () => {
    const [started] = run(initialState(config, new Float32Array(2)), joined('a'), joined('b'))
    const [state, effects] = run(
      started,
      { type: 'pause' },
      { type: 'resume' },
      { type: 'secure-failed', round: 1, reason: 'too few' },
    )
    expect(types(effects)).toEqual(['round-failed', 'start-round'])
    expect(state).toMatchObject({ phase: 'training', round: 2, paused: false })
  })

  it('an abort fails the round with who aborted it and why, and the next round starts', () => {
    const [started] = run(initialState(config, new Float32Array(2)), joined('a'), joined('b'))
    const [state, effects] = run(started, { type: 'abort', round: 1, by: 'alice', reason: 'wrong data' })
    expect(effects[0]).toEqual({
      type: 'round-failed',
      round: 1,
      reason: 'aborted by alice: wrong data',
      contributions: [],
      dropped: ['a', 'b'],
      privacy: null,
    })
    expect(types(effects)).toEqual(['round-failed', 'start-round'])
    expect(state).toMatchObject({ phase: 'training', round: 2, failed: 1 })
    // an abort of a round that is over changes nothing
    expect(run(state, { type: 'abort', round: 1, by: 'alice', reason: 'late' })).toEqual([state, []])
  })
})

describe('an operator pauses and resumes a run', () => {
  it('a pause mid-round lets that round aggregate and starts no other, whatever the timers do, until resumed', async () => {
    const controls: ControlEvent[] = []
    const h = await startTestCoordinator({ secure: false, rounds: 3, onControl: (e) => controls.push(e) })
    const a = testParticipant(h, 'a')
    const b = testParticipant(h, 'b')
    await joinAll(a, b, testParticipant(h, 'c', { alter: silentFrom(1, 'update') }))
    await Promise.all([a.acked(1, 'update'), b.acked(1, 'update')])
    h.federation.pause('alice')
    expect(h.federation.state).toMatchObject({ phase: 'training', round: 1, paused: true })
    h.clock.fire(MS.deadline)
    expect(await h.recorded(1)).toMatchObject({ status: 'aggregated' })
    expect(h.federation.state).toMatchObject({ phase: 'waiting', round: 1, paused: true, deadlineAt: null })
    // the join timeout passes: a paused run waits for its operator, its participants still online
    h.clock.fire(MS.join)
    await joinAll(testParticipant(h, 'd'))
    expect(h.federation.state).toMatchObject({ phase: 'waiting', round: 1, paused: true })
    expect([...h.federation.state.online.keys()].sort()).toEqual(['a', 'b', 'c', 'd'])
    const next = a.selected()
    h.federation.resume('alice')
    expect(h.federation.state).toMatchObject({ phase: 'training', round: 2, paused: false })
    expect(await next).toBe(2)
    expect(await h.recorded(2)).toMatchObject({ status: 'aggregated' })
    expect(controls).toEqual([
      { action: 'paused', by: 'alice', round: 1, detail: 'after round 1, which goes on' },
      { action: 'resumed', by: 'alice', round: 2, detail: 'round 2 started' },
    ])
  })

  it('a pause between rounds takes effect at once: the gather window and the join timeout pass, nothing starts or ends; resuming starts the round', async () => {
    const h = await startTestCoordinator({ rounds: 1 })
    const a = testParticipant(h, 'a')
    await joinAll(a, testParticipant(h, 'b'))
    expect(h.federation.state).toMatchObject({ phase: 'waiting', gathering: 'waiting' })
    h.federation.pause('alice')
    h.clock.fire(MS.gather)
    expect(h.federation.state).toMatchObject({
      phase: 'waiting',
      round: 0,
      paused: true,
      gathering: 'expired',
    })
    h.clock.fire(MS.join)
    expect(h.federation.state).toMatchObject({ phase: 'waiting', round: 0, paused: true })
    const started = a.selected()
    // the gather window is over, as if the pause had never been: the round starts at once
    h.federation.resume('bob')
    expect(h.federation.state).toMatchObject({ phase: 'training', round: 1, paused: false })
    expect(await started).toBe(1)
    expect(sorted(await h.recorded(1))).toMatchObject({ status: 'aggregated', survivors: ['a', 'b'] })
    expect(await h.federation.done).toMatchObject({ completed: 1, failed: 0 })
  })
})

describe('an operator aborts the current round', () => {
  it('a secure round fails at once with the operator’s reason, told to everyone, nothing unmasked, and the next round aggregates', async () => {
    const controls: ControlEvent[] = []
    const h = await startTestCoordinator({ rounds: 2, onControl: (e) => controls.push(e) })
    const a = testParticipant(h, 'a')
    const b = testParticipant(h, 'b')
    const c = testParticipant(h, 'c', { alter: silentFrom(1, 'masked-input') })
    await joinAll(a, b, c)
    await Promise.all([a.acked(1, 'masked-input'), b.acked(1, 'masked-input')])
    expect(h.federation.secureStage).toEqual({ stage: 'masked-input', waitingFor: ['c'] })
    const told = new Promise<RoundResult>((resolve) => a.socket.once('round-result', resolve))
    h.federation.abortRound('alice', 'a hospital sent the wrong images')
    expect(h.federation.secureStage).toBeNull()
    const first = await h.recorded(1)
    expect(first).toMatchObject({
      status: 'failed',
      reason: 'aborted by alice: a hospital sent the wrong images',
      examples: 0,
      labelCounts: null,
      validation: null,
      test: null,
    })
    expect(first.survivors).toBeUndefined()
    expect(await told).toMatchObject({
      round: 1,
      status: 'failed',
      reason: 'aborted by alice: a hospital sent the wrong images',
    })
    // no one was asked for its unmasking shares, and round 1 left no head
    expect([a, b, c].flatMap((p) => p.sent).filter((s) => s.round === 1 && s.stage === 'unmask')).toEqual([])
    expect(existsSync(headOf(h, 1))).toBe(false)
    expect(sorted(await h.recorded(2))).toMatchObject({ status: 'aggregated', survivors: ['a', 'b', 'c'] })
    expect(existsSync(headOf(h, 2))).toBe(true)
    expect((await h.store.rounds.list(h.runId)).map((r) => r.round)).toEqual([1, 2])
    expect(controls).toEqual([
      { action: 'aborted', by: 'alice', round: 1, detail: 'a hospital sent the wrong images' },
    ])
  })

  it('a plaintext-debug round fails the same way, with the updates it had, and the next round aggregates', async () => {
    const h = await startTestCoordinator({ secure: false, rounds: 2 })
    const a = testParticipant(h, 'a')
    const b = testParticipant(h, 'b')
    await joinAll(a, b, testParticipant(h, 'c', { alter: silentFrom(1, 'update') }))
    await Promise.all([a.acked(1, 'update'), b.acked(1, 'update')])
    h.federation.abortRound('alice', 'wrong learning rate')
    expect(await h.recorded(1)).toMatchObject({
      status: 'failed',
      reason: 'aborted by alice: wrong learning rate',
    })
    expect(existsSync(headOf(h, 1))).toBe(false)
    expect(await h.recorded(2)).toMatchObject({ status: 'aggregated' })
    expect(await h.federation.done).toMatchObject({ completed: 1, failed: 1 })
  })

  it('what the operator wrote reaches the record and the log escaped', async () => {
    const h = await startTestCoordinator({ secure: false, rounds: 1 })
    await joinAll(
      testParticipant(h, 'a', { alter: () => undefined }),
      testParticipant(h, 'b', { alter: () => undefined }),
    )
    h.clock.fire(MS.gather)
    h.federation.abortRound('mallory\n', 'bad\nround 2: aggregated')
    expect((await h.recorded(1)).reason).toBe('aborted by mallory\\n: bad\\nround 2: aggregated')
  })
})

describe('an operator extends the current round’s deadline', () => {
  it('in a plaintext-debug round the old deadline no longer fires and the new one ends the round', async () => {
    const controls: ControlEvent[] = []
    const h = await startTestCoordinator({ secure: false, rounds: 1, onControl: (e) => controls.push(e) })
    const a = testParticipant(h, 'a')
    await joinAll(
      a,
      testParticipant(h, 'b', { alter: () => undefined }),
      testParticipant(h, 'c', { alter: () => undefined }),
    )
    await a.acked(1, 'update')
    // the steered clock stands at 0
    expect(h.federation.state.deadlineAt).toBe(MS.deadline)
    h.federation.extendDeadline('alice', 5)
    expect(h.federation.state.deadlineAt).toBe(MS.deadline + 5000)
    expect(() => h.clock.fire(MS.deadline)).toThrow(`no pending timer of ${MS.deadline} ms`)
    expect(h.federation.state).toMatchObject({ phase: 'training', round: 1 })
    h.clock.fire(MS.deadline + 5000)
    expect(await h.recorded(1)).toMatchObject({
      status: 'failed',
      reason: 'deadline passed with 1 of the 2 updates needed (missing: b, c)',
    })
    expect(controls).toEqual([
      { action: 'extended', by: 'alice', round: 1, detail: 'by 5 s, to 1970-01-01T00:00:55.000Z' },
    ])
  })

  it('in a secure round’s masked-input stage the stage waits for the new deadline, which then fails the round', async () => {
    const h = await startTestCoordinator({ rounds: 1 })
    const a = testParticipant(h, 'a')
    await joinAll(
      a,
      testParticipant(h, 'b', { alter: silentFrom(1, 'masked-input') }),
      testParticipant(h, 'c', { alter: silentFrom(1, 'masked-input') }),
    )
    await a.acked(1, 'masked-input')
    h.federation.extendDeadline('alice', 5)
    expect(() => h.clock.fire(MS.deadline)).toThrow(`no pending timer of ${MS.deadline} ms`)
    expect(h.federation.secureStage).toEqual({ stage: 'masked-input', waitingFor: ['b', 'c'] })
    h.clock.fire(MS.deadline + 5000)
    const record = await h.recorded(1)
    expect(record).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/^secure aggregation failed: /),
    })
    expect(record.survivors).toBeUndefined()
  })

  it('in a secure round’s advertise stage that stage’s own deadline moves, and the round goes on without who missed it', async () => {
    const h = await startTestCoordinator({ rounds: 1 })
    const a = testParticipant(h, 'a')
    const b = testParticipant(h, 'b')
    await joinAll(a, b, testParticipant(h, 'c', { alter: silentFrom(1, 'advertise') }))
    await Promise.all([a.acked(1, 'advertise'), b.acked(1, 'advertise')])
    h.federation.extendDeadline('alice', 5)
    expect(() => h.clock.fire(MS.stage)).toThrow(`no pending timer of ${MS.stage} ms`)
    expect(h.federation.secureStage).toEqual({ stage: 'advertise', waitingFor: ['c'] })
    h.clock.fire(MS.stage + 5000)
    expect(sorted(await h.recorded(1))).toMatchObject({
      status: 'aggregated',
      survivors: ['a', 'b'],
      dropped: ['c'],
    })
  })
})

describe('an operator stops a run', () => {
  it('mid-round: the run ends recording nothing new, and everyone is told', async () => {
    const controls: ControlEvent[] = []
    const h = await startTestCoordinator({ secure: false, rounds: 2, onControl: (e) => controls.push(e) })
    const a = testParticipant(h, 'a')
    const b = testParticipant(h, 'b')
    await joinAll(a, b, testParticipant(h, 'c', { alter: silentFrom(1, 'update') }))
    await Promise.all([a.acked(1, 'update'), b.acked(1, 'update')])
    const finished = new Promise<Finished>((resolve) => a.socket.once('finished', resolve))
    h.federation.stop('stopped by alice', 'alice')
    expect(await h.federation.done).toEqual({ reason: 'stopped by alice', completed: 0, failed: 0 })
    expect(await finished).toEqual({ rounds: 1, completed: 0 })
    expect(h.records).toEqual([])
    expect(await h.store.rounds.list(h.runId)).toEqual([])
    expect(controls).toEqual([{ action: 'stopped', by: 'alice', round: 1, detail: 'stopped by alice' }])
  })

  it('while a round is being committed: that round is kept and announced, and the next one never starts', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let entered!: () => void
    const committing = new Promise<void>((resolve) => {
      entered = resolve
    })
    const h = await startTestCoordinator({
      secure: false,
      rounds: 2,
      recorder: (recorder) => ({
        writeHead: (round, weights, server) => recorder.writeHead(round, weights, server),
        async commit(record) {
          entered()
          await gate
          await recorder.commit(record)
        },
      }),
    })
    const a = testParticipant(h, 'a')
    await joinAll(a, testParticipant(h, 'b'), testParticipant(h, 'c'))
    await committing
    // round 2 is under way in the round logic, its start held behind round 1's record
    expect(h.federation.state).toMatchObject({ phase: 'training', round: 2 })
    expect(() => h.federation.abortRound('alice', 'too early')).toThrow(
      "aborting the round: expected a round running, got none: round 2 is waiting for round 1's record to be kept",
    )
    const later: number[] = []
    a.socket.on('round', (r: { round: number }) => later.push(r.round))
    const finished = new Promise<Finished>((resolve) => a.socket.once('finished', resolve))
    h.federation.stop('stopped by alice', 'alice')
    release()
    expect(await h.federation.done).toEqual({ reason: 'stopped by alice', completed: 1, failed: 0 })
    expect(await h.recorded(1)).toMatchObject({ status: 'aggregated' })
    expect((await h.store.rounds.list(h.runId)).map((r) => r.round)).toEqual([1])
    // in order on the socket: a round 2 would have come before "finished"
    expect(await finished).toEqual({ rounds: 2, completed: 1 })
    expect(later).toEqual([])
  })
})

describe('run control refuses what it cannot do, saying what it expected', () => {
  it('abort and extend with no round running, bad seconds, resume when not paused, pause twice, anything once finished', async () => {
    const h = await startTestCoordinator({ secure: false, rounds: 1 })
    const none = thrown(() => h.federation.abortRound('alice', 'x'))
    expect(none).toBeInstanceOf(RunControlError)
    expect(none).toMatchObject({
      code: 'conflict',
      message:
        'aborting the round: expected a round running, got none: no round is running (round 0 was the last; the run is waiting)',
    })
    expect(() => h.federation.extendDeadline('alice', 5)).toThrow(
      'extending the deadline: expected a round running, got none: no round is running',
    )
    expect(() => h.federation.resume('alice')).toThrow(
      'resuming the run: expected a paused run, got one not paused',
    )
    await joinAll(
      testParticipant(h, 'a', { alter: () => undefined }),
      testParticipant(h, 'b', { alter: () => undefined }),
      testParticipant(h, 'c', { alter: () => undefined }),
    )
    for (const bad of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const error = thrown(() => h.federation.extendDeadline('alice', bad))
      expect(error).toMatchObject({
        code: 'invalid',
        message: `extending the deadline: expected a positive, finite number of seconds, got ${bad}`,
      })
    }
    expect(() => h.federation.extendDeadline('alice', 8 * 24 * 3600)).toThrow(
      'extending the deadline: expected a deadline at most 604800 s from now, got one 691250 s from now',
    )
    expect(h.federation.state.deadlineAt).toBe(MS.deadline)
    h.federation.pause('alice')
    expect(() => h.federation.pause('bob')).toThrow(
      'pausing the run: expected a run not paused, got one already paused',
    )
    h.federation.stop('stopped by alice', 'alice')
    await h.federation.done
    expect(() => h.federation.abortRound('alice', 'x')).toThrow(
      'aborting the round: expected a round running, got none: the run has finished',
    )
    expect(() => h.federation.pause('alice')).toThrow(
      'pausing the run: expected a run in progress, got one that has finished',
    )
    expect(() => h.federation.resume('alice')).toThrow(
      'resuming the run: expected a paused run, got one that has finished',
    )
  })
})
