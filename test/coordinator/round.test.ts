import {
  type Effect,
  FEDAVG,
  initialState,
  Roster,
  type RoundConfig,
  type RoundEvent,
  type RoundState,
  selectable,
  selectParticipants,
  step,
} from '@fedtune/coordinator'
import { countEvaluation } from '@fedtune/model'
import {
  addEvaluationCounts,
  type EvaluationCounts,
  emptyEvaluationCounts,
  flattenEvaluationCounts,
  type ParticipantKind,
  readPooledEvaluation,
  type Update,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

const config: RoundConfig = {
  rounds: 2,
  minParticipants: 2,
  participantsPerRound: 3,
  maxBrowsersPerRound: 0,
  seed: 1,
  server: FEDAVG,
  secure: false,
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

function update(
  round: number,
  delta: number[],
  examples: number,
  labelCounts = [examples, 0],
  evaluation: EvaluationCounts = emptyEvaluationCounts(2),
): Update {
  return {
    round,
    delta: new Float32Array(delta),
    examples,
    labelCounts,
    metrics: { trainLoss: 0.5, evaluation },
  }
}

/** The counts of a head that scores class 1 at `p1` on examples labelled `labels`. */
function counts(labels: number[], p1: number[]): EvaluationCounts {
  const probs = Float32Array.from(p1.flatMap((p) => [1 - p, p]))
  return countEvaluation(probs, Int32Array.from(labels), 2)
}

const joined = (participant: string, kind: ParticipantKind = 'hospital'): RoundEvent => ({
  type: 'joined',
  participant,
  kind,
})
const browser = (participant: string) => joined(participant, 'browser')
const types = (effects: Effect[]) => effects.map((e) => e.type)

describe('round logic', () => {
  it('waits until the minimum number of participants is online, then starts round 1', () => {
    let [state, effects] = run(initialState(config, new Float32Array(2)), joined('a'))
    expect(state.phase).toBe('waiting')
    expect(effects).toEqual([])
    ;[state, effects] = run(state, joined('b'))
    expect(state.phase).toBe('training')
    expect(effects).toMatchObject([{ type: 'start-round', round: 1, participants: ['a', 'b'] }])
  })

  it('aggregates as soon as every selected participant has sent, weighted by examples', () => {
    const [state, effects] = run(
      initialState(config, new Float32Array([0, 0])),
      joined('a'),
      joined('b'),
      { type: 'update', participant: 'a', update: update(1, [1, 1], 1) },
      { type: 'update', participant: 'b', update: update(1, [4, -2], 3) },
    )
    const aggregated = effects.find((e) => e.type === 'round-aggregated')
    expect(aggregated).toMatchObject({ round: 1, dropped: [] })
    expect(Array.from(state.global)).toEqual([(1 + 12) / 4, (1 - 6) / 4])
    expect(types(effects).slice(-1)).toEqual(['start-round'])
    expect(state.round).toBe(2)
  })

  it('sums the label counts of the aggregate: the federation’s label mix, for the next round’s prior', () => {
    const [state, effects] = run(
      initialState(config, new Float32Array([0, 0])),
      joined('a'),
      joined('b'),
      { type: 'update', participant: 'a', update: update(1, [1, 1], 10, [10, 0]) },
      { type: 'update', participant: 'b', update: update(1, [1, 1], 30, [5, 25]) },
    )
    expect(effects.find((e) => e.type === 'round-aggregated')).toMatchObject({ labelCounts: [15, 25] })
    expect(state.labelCounts).toEqual([15, 25])
  })

  it('with FedAdam, applies Adam to the weighted mean update and keeps its moments in the state', () => {
    const adam = { optimizer: 'adam', learningRate: 0.5, beta1: 0.9, beta2: 0.99, epsilon: 0 } as const
    const [state, effects] = run(
      initialState({ ...config, server: adam }, new Float32Array([0, 0])),
      joined('a'),
      joined('b'),
      { type: 'update', participant: 'a', update: update(1, [1, -1], 1) },
      { type: 'update', participant: 'b', update: update(1, [3, -1], 1) },
    )
    // m = 0.1·Δ̄, v = 0.01·Δ̄²: the first step is η·sign(Δ̄) whatever the update's size.
    expect(Array.from(state.global)).toEqual([0.5, -0.5])
    expect(Array.from(state.server?.m ?? [])).toEqual([Math.fround(0.2), Math.fround(-0.1)])
    expect(effects.find((e) => e.type === 'round-aggregated')).toMatchObject({ server: state.server })
  })

  it('a resumed run whose last round is kept already finishes as soon as it opens, and starts no round past its rounds', () => {
    // a coordinator killed after keeping round 2 of 2 (or while unmasking it) before it closed the run
    const resumed = initialState(config, new Float32Array(1), {
      round: 2,
      completed: 1,
      failed: 1,
      server: null,
      labelCounts: null,
    })
    const finished = { type: 'finished', reason: 'all 2 rounds done', completed: 1, failed: 1 }
    const [opened, atOpen] = run(resumed, { type: 'opened' })
    expect(opened.phase).toBe('finished')
    expect(atOpen).toEqual([finished])
    // and if it were not told it is open, a join or the join timeout would end it the same way
    const [joinedState, atJoin] = run(resumed, joined('a'), joined('b'), joined('c'))
    expect(joinedState.phase).toBe('finished')
    expect(atJoin).toEqual([finished])
    const [timedOut, atTimeout] = run(resumed, { type: 'join-timeout' })
    expect(timedOut.phase).toBe('finished')
    expect(atTimeout).toEqual([finished])
  })

  it('opening a run with rounds left changes nothing: it waits for participants as before', () => {
    const fresh = initialState(config, new Float32Array(1))
    const [state, effects] = run(fresh, { type: 'opened' })
    expect(effects).toEqual([])
    expect(state.phase).toBe('waiting')
    expect(state.round).toBe(0)
  })

  it('a deadline with too few updates fails the round visibly and the run goes on', () => {
    const [state, effects] = run(
      initialState(config, new Float32Array(1)),
      joined('a'),
      joined('b'),
      { type: 'update', participant: 'a', update: update(1, [1], 1) },
      { type: 'deadline', round: 1 },
    )
    const failed = effects.find((e) => e.type === 'round-failed')
    expect(failed).toMatchObject({ round: 1, dropped: ['b'] })
    expect(failed?.type === 'round-failed' && failed.reason).toMatch(
      /1 of the 2 updates needed \(missing: b\)/,
    )
    expect(state.failed).toBe(1)
    expect(state.round).toBe(2)
    expect(Array.from(state.global)).toEqual([0])
  })

  it('a deadline with enough updates aggregates those that arrived and reports the dropouts', () => {
    const [state, effects] = run(
      initialState({ ...config, rounds: 3 }, new Float32Array(1)),
      joined('a'),
      joined('b'),
      joined('c'),
      { type: 'update', participant: 'a', update: update(1, [0], 1) },
      { type: 'update', participant: 'b', update: update(1, [0], 1) },
      // round 2 selects from all three online
      { type: 'update', participant: 'a', update: update(2, [2], 1) },
      { type: 'update', participant: 'c', update: update(2, [4], 1) },
      { type: 'deadline', round: 2 },
    )
    expect(effects.filter((e) => e.type === 'round-aggregated').at(-1)).toMatchObject({
      round: 2,
      dropped: ['b'],
    })
    expect(Array.from(state.global)).toEqual([3])
  })

  it('does not wait for a participant that went offline once enough updates are in', () => {
    const [, effects] = run(
      initialState(config, new Float32Array(1)),
      joined('a'),
      joined('b'),
      joined('c'),
      { type: 'update', participant: 'a', update: update(1, [2], 1) },
      { type: 'update', participant: 'b', update: update(1, [2], 1) },
      { type: 'left', participant: 'c' },
    )
    expect(types(effects)).toContain('round-aggregated')
  })

  it('refuses late, duplicate, unselected and wrong-round updates without changing the round', () => {
    let [state] = run(
      initialState({ ...config, participantsPerRound: 2 }, new Float32Array(1)),
      joined('a'),
      joined('b'),
      joined('c'),
    )
    const outsider = state.selected.includes('c') ? 'a' : 'c'
    const insider = state.selected[0] as string
    let effects: Effect[]
    ;[state, effects] = run(state, { type: 'update', participant: outsider, update: update(1, [1], 1) })
    expect(effects).toMatchObject([{ type: 'update-ack', ok: false, code: 'not-selected' }])
    ;[state, effects] = run(state, { type: 'update', participant: insider, update: update(2, [1], 1) })
    expect(effects).toMatchObject([{ type: 'update-ack', ok: false, code: 'wrong-round' }])
    ;[state, effects] = run(state, { type: 'update', participant: insider, update: update(1, [1], 1) })
    expect(effects).toMatchObject([{ type: 'update-ack', ok: true }])
    ;[state, effects] = run(state, { type: 'update', participant: insider, update: update(1, [1], 1) })
    expect(effects).toMatchObject([{ type: 'update-ack', ok: false, code: 'duplicate' }])
    expect(state.received.size).toBe(1)
  })

  it('a stale deadline from an earlier round is ignored', () => {
    const [state, effects] = run(
      initialState(config, new Float32Array(1)),
      joined('a'),
      joined('b'),
      { type: 'update', participant: 'a', update: update(1, [1], 1) },
      { type: 'update', participant: 'b', update: update(1, [1], 1) },
      { type: 'deadline', round: 1 },
    )
    expect(state.round).toBe(2)
    expect(types(effects)).not.toContain('round-failed')
  })

  it('resends the open round to a selected participant that reconnects before sending', () => {
    const [, effects] = run(
      initialState(config, new Float32Array(1)),
      joined('a'),
      joined('b'),
      { type: 'left', participant: 'a' },
      joined('a'),
    )
    expect(effects.at(-1)).toMatchObject({ type: 'send-round', round: 1, participant: 'a' })
  })

  it('finishes after the configured number of rounds, failed rounds included', () => {
    const [state, effects] = run(
      initialState(config, new Float32Array(1)),
      joined('a'),
      joined('b'),
      { type: 'deadline', round: 1 },
      { type: 'deadline', round: 2 },
    )
    expect(state.phase).toBe('finished')
    expect(effects.at(-1)).toMatchObject({ type: 'finished', completed: 0, failed: 2 })
    expect(step(state, { type: 'update', participant: 'a', update: update(3, [1], 1) })[1]).toMatchObject([
      { ok: false, code: 'finished' },
    ])
  })

  it('gives up when too few participants join in time instead of waiting forever', () => {
    const [state, effects] = run(initialState(config, new Float32Array(1)), joined('a'), {
      type: 'join-timeout',
    })
    expect(state.phase).toBe('finished')
    expect(effects.at(-1)).toMatchObject({
      type: 'finished',
      reason: 'only 1 of the 2 participants needed joined in time',
    })
  })

  it('selects participantsPerRound of those online, reproducibly for a seed', () => {
    const cfg = { ...config, participantsPerRound: 2, minParticipants: 2 }
    const pick = () => run(initialState(cfg, new Float32Array(1)), joined('a'), joined('b'), joined('c'))
    // the round starts at the second join, so only a and b can be in it
    expect(pick()[0].selected).toEqual(['a', 'b'])
    const [s] = run(
      initialState({ ...cfg, minParticipants: 2 }, new Float32Array(1)),
      joined('c'),
      joined('a'),
    )
    expect(s.selected).toEqual(['a', 'c'])
  })

  it('with a gather window, waits for participantsPerRound before starting, then starts with whoever came', () => {
    const gathering = { ...config, gatherMs: 5000 }
    let [state, effects] = run(initialState(gathering, new Float32Array(2)), joined('a'), joined('b'))
    expect(state.phase).toBe('waiting')
    expect(effects).toEqual([{ type: 'gather', ms: 5000 }])
    ;[state, effects] = run(state, joined('c'))
    expect(state.phase).toBe('training')
    expect(state.selected).toHaveLength(3)
    ;[state, effects] = run(initialState(gathering, new Float32Array(2)), joined('a'), joined('b'), {
      type: 'gather-timeout',
    })
    expect(state.phase).toBe('training')
    expect([...state.selected].sort()).toEqual(['a', 'b'])
  })

  it('in a secure task, refuses plaintext updates and takes the round’s result from the unmasked sum', () => {
    const secure = { ...config, secure: true }
    let [state, effects] = run(initialState(secure, new Float32Array([0, 0])), joined('a'), joined('b'))
    ;[state, effects] = run(state, { type: 'update', participant: 'a', update: update(1, [1, 1], 1) })
    expect(effects).toMatchObject([{ type: 'update-ack', ok: false, code: 'secure-only' }])
    const evaluation = { ok: true, counts: counts([0, 1], [0.2, 0.3]) } as const
    const sum = { weightedSum: Float64Array.from([4, -8, 4]), examples: 4, labelCounts: [1, 3], evaluation }
    ;[state, effects] = run(state, { type: 'secure-sum', round: 1, survivors: ['a', 'b'], sum })
    expect(Array.from(state.global)).toEqual([1, -2])
    expect(effects.find((e) => e.type === 'round-aggregated')).toMatchObject({
      secure: { survivors: ['a', 'b'] },
      labelCounts: [1, 3],
      evaluation,
    })
    ;[state, effects] = run(state, {
      type: 'secure-failed',
      round: 2,
      reason: 'only 1 of 2 neighbours survived',
    })
    expect(effects.find((e) => e.type === 'round-failed')).toMatchObject({
      reason: 'secure aggregation failed: only 1 of 2 neighbours survived',
    })
    expect(state.phase).toBe('finished')
  })

  it("a plaintext round's evaluation is the sum of its updates' counts; the record keeps each one's training loss, not its counts", () => {
    const a = counts([0, 0, 1], [0.1, 0.7, 0.9])
    const b = counts([1, 1], [0.4, 0.8])
    const [state] = run(initialState(config, new Float32Array([0, 0])), joined('a'), joined('b'))
    const [, effects] = run(
      state,
      { type: 'update', participant: 'a', update: update(1, [1, 1], 3, [2, 1], a) },
      { type: 'update', participant: 'b', update: update(1, [1, 1], 2, [0, 2], b) },
    )
    const aggregated = effects.find((e) => e.type === 'round-aggregated')
    expect(aggregated).toMatchObject({ evaluation: { ok: true, counts: addEvaluationCounts(a, b) } })
    expect(aggregated).toMatchObject({
      contributions: [
        { participant: 'a', examples: 3, trainLoss: 0.5 },
        { participant: 'b', examples: 2, trainLoss: 0.5 },
      ],
    })
  })

  it('pooled counts that do not add up (a participant lied) still aggregate the round, saying why they are left out', () => {
    const secure = { ...config, secure: true }
    const [started] = run(initialState(secure, new Float32Array([0, 0])), joined('a'), joined('b'))
    const words = flattenEvaluationCounts(counts([0, 1], [0.2, 0.9]))
    words[0] = (words[0] as number) + 5 // five examples in the confusion matrix that no histogram has
    const evaluation = readPooledEvaluation(words, 2)
    expect(evaluation.ok).toBe(false)
    const sum = { weightedSum: Float64Array.from([4, -8, 4]), examples: 4, labelCounts: [1, 3], evaluation }
    const [state, effects] = run(started, { type: 'secure-sum', round: 1, survivors: ['a', 'b'], sum })
    expect(effects.find((e) => e.type === 'round-aggregated')).toMatchObject({ evaluation })
    expect(Array.from(state.global)).toEqual([1, -2])
  })

  it('an error the shell hit fails the open round with its reason and starts the next; one for another round changes nothing', () => {
    let [state, effects] = run(
      initialState({ ...config, rounds: 3 }, new Float32Array([0, 0])),
      joined('a'),
      joined('b'),
    )
    ;[state, effects] = run(state, { type: 'error', round: 2, reason: 'not this round' })
    expect(effects).toEqual([])
    expect(state).toMatchObject({ phase: 'training', round: 1 })
    ;[state, effects] = run(state, { type: 'error', round: 1, reason: 'starting round 1 failed: boom' })
    expect(effects).toMatchObject([
      { type: 'round-failed', round: 1, reason: 'starting round 1 failed: boom', dropped: ['a', 'b'] },
      { type: 'start-round', round: 2 },
    ])
    expect(state).toMatchObject({ phase: 'training', round: 2, failed: 1, completed: 0 })
  })

  it('a browser that leaves mid-round is an ordinary dropout: the round goes on without it', () => {
    const withBrowsers = { ...config, maxBrowsersPerRound: 1, gatherMs: 1000 }
    const [state, effects] = run(
      initialState(withBrowsers, new Float32Array(1)),
      browser('v'),
      joined('a'),
      joined('b'),
      { type: 'update', participant: 'a', update: update(1, [2], 1) },
      { type: 'update', participant: 'b', update: update(1, [4], 1) },
      { type: 'left', participant: 'v' },
    )
    expect(effects.find((e) => e.type === 'start-round')).toMatchObject({ participants: ['a', 'b', 'v'] })
    expect(effects.find((e) => e.type === 'round-aggregated')).toMatchObject({ round: 1, dropped: ['v'] })
    expect(Array.from(state.global)).toEqual([3])
  })
})

describe('browser participants in a round', () => {
  const onlineOf = (hospitals: number, browsers: number) =>
    Roster.of([
      ...Array.from({ length: hospitals }, (_, i) => [`hospital-${i}`, 'hospital'] as const),
      ...Array.from({ length: browsers }, (_, i) => [`browser-${i}`, 'browser'] as const),
    ])
  const kinds = (online: Roster, chosen: readonly string[]) => ({
    browsers: chosen.filter((p) => online.get(p) === 'browser').length,
    hospitals: chosen.filter((p) => online.get(p) === 'hospital').length,
  })

  it('takes at most maxPerRound browsers; the other places go to hospitals', () => {
    const few = onlineOf(2, 5)
    const chosen = selectParticipants(few, { count: 4, maxBrowsers: 1 }, 1, 1)
    expect(chosen).toHaveLength(3)
    expect(kinds(few, chosen)).toEqual({ browsers: 1, hospitals: 2 })
    const many = onlineOf(5, 5)
    const browsersPerRound = Array.from({ length: 30 }, (_, i) => {
      const chosen = selectParticipants(many, { count: 4, maxBrowsers: 2 }, 7, i + 1)
      expect(chosen).toHaveLength(4)
      return kinds(many, chosen).browsers
    })
    expect(Math.max(...browsersPerRound)).toBe(2)
  })

  it('fills places with browsers up to the cap when hospitals are few', () => {
    const online = onlineOf(1, 5)
    expect(kinds(online, selectParticipants(online, { count: 4, maxBrowsers: 3 }, 1, 1))).toEqual({
      browsers: 3,
      hospitals: 1,
    })
    expect(selectParticipants(online, { count: 4, maxBrowsers: 0 }, 1, 1)).toEqual(['hospital-0'])
  })

  it('is a seeded choice: the same seed and round choose the same browsers, and every browser gets its turn', () => {
    const online = onlineOf(3, 5)
    const pick = (seed: number, round: number) =>
      selectParticipants(online, { count: 3, maxBrowsers: 1 }, seed, round)
    expect(pick(9, 4)).toEqual(pick(9, 4))
    const turns = new Set<string>()
    for (let round = 1; round <= 40; round++)
      for (const p of pick(9, round)) if (online.get(p) === 'browser') turns.add(p)
    expect([...turns].sort()).toEqual(['browser-0', 'browser-1', 'browser-2', 'browser-3', 'browser-4'])
  })

  it('with no browsers online, chooses exactly as a hospitals-only federation did', () => {
    const online = onlineOf(6, 0)
    const withCap = selectParticipants(online, { count: 3, maxBrowsers: 1 }, 5, 2)
    const withoutCap = selectParticipants(online, { count: 3, maxBrowsers: 0 }, 5, 2)
    expect(withCap).toEqual(withoutCap)
    expect(withCap).toHaveLength(3)
  })

  it('counts browsers past the cap as unable to fill a place', () => {
    expect(selectable(onlineOf(2, 5), 1)).toBe(3)
    expect(selectable(onlineOf(2, 5), 0)).toBe(2)
    expect(selectable(onlineOf(0, 2), 5)).toBe(2)
  })

  it('a round does not start on browsers past the cap; a hospital joining starts it', () => {
    const cfg = { ...config, minParticipants: 2, participantsPerRound: 2, maxBrowsersPerRound: 1 }
    let [state, effects] = run(
      initialState(cfg, new Float32Array(1)),
      browser('v'),
      browser('w'),
      browser('x'),
    )
    expect(state.phase).toBe('waiting')
    expect(effects).toEqual([])
    ;[state, effects] = run(state, joined('a'))
    expect(state.phase).toBe('training')
    expect(state.selected).toHaveLength(2)
    expect(state.selected).toContain('a')
  })

  it('when too few can take part by the join timeout, says how many browsers were left out and why', () => {
    const cfg = { ...config, minParticipants: 2, participantsPerRound: 2, maxBrowsersPerRound: 1 }
    const [, effects] = run(
      initialState(cfg, new Float32Array(1)),
      browser('v'),
      browser('w'),
      browser('x'),
      {
        type: 'join-timeout',
      },
    )
    expect(effects.at(-1)).toMatchObject({
      type: 'finished',
      reason: 'only 1 of the 2 participants needed (3 browsers online, at most 1 per round) joined in time',
    })
  })
})
