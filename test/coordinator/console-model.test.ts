import {
  bestRoundMetric,
  bestRoundView,
  consoleRun,
  dropoutsOf,
  etaMs,
  type FederationView,
  liveRound,
  majorityAccuracy,
  originProblem,
  participantCounts,
  type RoundRecord,
  RoundTraffic,
  type RunView,
  roundEntry,
  roundEvaluation,
  runPrivacy,
  runWaiting,
  type StageTiming,
  Throttle,
} from '@fedtune/coordinator'
import { countEvaluation, dominantWarning, evaluatePredictions, pooledMetrics } from '@fedtune/model'
import { type PrivacySettings, privacyStatement } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

/**
 * Issue 13: the console's model as pure functions of what the coordinator knows — what a run waits
 * for, a run's row, a round's timeline entry, the live round, a participant's counters — so the
 * socket part is a thin shell (console-live.test.ts drives it over real sockets).
 */
const federation = (over: Partial<FederationView> = {}): FederationView => ({
  phase: 'waiting',
  round: 0,
  paused: false,
  pausedBy: null,
  committing: false,
  online: 0,
  needed: 2,
  gathering: 'idle',
  gatherUntil: null,
  completed: 0,
  failed: 0,
  stage: null,
  ...over,
})

const view = (over: Partial<RunView> = {}): RunView => ({
  task: 't',
  run: { id: 7, state: 'running', reason: null, startedAt: '2026-12-02T10:00:00.000Z', endedAt: null },
  rounds: 10,
  secure: true,
  preparing: null,
  federation: federation(),
  last: null,
  best: null,
  durations: [],
  kept: { round: 0, completed: 0, failed: 0 },
  privacy: null,
  privacyStatement: [],
  ...over,
})

const timing = (
  stage: StageTiming['stage'],
  openedAt: number,
  missing: string[] = [],
  of = 3,
): StageTiming => ({
  round: 1,
  stage,
  heard: of - missing.length,
  of,
  missing,
  openedAt,
  lastMessageAt: openedAt + 5,
  closedAt: openedAt + 8,
  relayedAt: openedAt + 10,
})

/** A head's metrics on `labels` (binary) from each image's probability of class 1, as the coordinator computes them. */
const measured = (p1: readonly number[], labels: readonly number[], classes = 2) => {
  const probs = Float32Array.from(p1.flatMap((p) => [1 - p, p]))
  return evaluatePredictions(probs, Int32Array.from(labels), classes)
}

/** The test set of the rounds below: 4 of 5 right (ACC 0.8), every positive scored above every negative (AUC 1). */
const TEST = measured([0.2, 0.3, 0.7, 0.9, 0.4], [0, 0, 1, 1, 1])

/** A secure round's record (a, b survived, c dropped); `survivors: null` makes it a plaintext or failed one. */
const record = (
  over: Partial<Omit<RoundRecord, 'survivors'>> & { readonly survivors?: readonly string[] | null } = {},
): RoundRecord => {
  const { survivors = ['a', 'b'], ...rest } = over
  return {
    round: 1,
    status: 'aggregated',
    reason: null,
    startedAt: '2026-12-02T10:00:00.000Z',
    durationMs: 40,
    selected: ['a', 'b', 'c'],
    contributions: [],
    dropped: ['c'],
    examples: 20,
    validation: null,
    test: TEST,
    participants: null,
    prior: null,
    best: null,
    warnings: [],
    ...rest,
    ...(survivors === null ? {} : { survivors }),
  }
}

describe('what a run waits for', () => {
  it('preparing, with what and how far', () => {
    expect(
      runWaiting(
        view({ federation: null, preparing: { what: 'embedding the held-out set', done: 3, total: 8 } }),
      ),
    ).toEqual({ kind: 'preparing', detail: 'embedding the held-out set: 3 of 8' })
  })

  it('participants to join, then the gather window', () => {
    expect(runWaiting(view({ federation: federation({ online: 1 }) }))).toEqual({
      kind: 'participants',
      online: 1,
      needed: 2,
    })
    expect(
      runWaiting(view({ federation: federation({ online: 2, gathering: 'waiting', gatherUntil: 123 }) })),
    ).toEqual({
      kind: 'gather',
      until: 123,
    })
  })

  it("a stage's stragglers: the first 50 by name and how many more, with the deadline", () => {
    const names = Array.from({ length: 60 }, (_, i) => `h${String(i).padStart(2, '0')}`).reverse()
    const waiting = runWaiting(
      view({
        federation: federation({
          phase: 'training',
          round: 1,
          stage: { stage: 'masked-input', waitingFor: names, deadlineAt: 999 },
        }),
      }),
    )
    expect(waiting).toMatchObject({ kind: 'stage', stage: 'masked-input', more: 10, deadlineAt: 999 })
    if (waiting?.kind !== 'stage') throw new Error('expected a stage')
    expect(waiting.waitingFor).toHaveLength(50)
    expect(waiting.waitingFor[0]).toBe('h00')
  })

  it("an operator's resume once the round is over, and the record being kept before that", () => {
    expect(
      runWaiting(view({ federation: federation({ paused: true, pausedBy: 'olga', online: 3 }) })),
    ).toEqual({
      kind: 'resume',
      pausedBy: 'olga',
    })
    expect(runWaiting(view({ federation: federation({ paused: true, committing: true }) }))).toEqual({
      kind: 'commit',
    })
  })

  it('nothing while a round computes between stages, nor once the run is over', () => {
    expect(runWaiting(view({ federation: federation({ phase: 'training', online: 3 }) }))).toBeNull()
    expect(
      runWaiting(
        view({ run: { id: 7, state: 'finished', reason: 'all 10 rounds', startedAt: null, endedAt: null } }),
      ),
    ).toBeNull()
  })
})

describe("a run's row", () => {
  it('its state follows the run store, the host and the pause', () => {
    expect(consoleRun(view({ run: null, federation: null })).state).toBe('idle')
    expect(consoleRun(view({ federation: null })).state).toBe('preparing')
    expect(consoleRun(view({ federation: federation({ paused: true }) })).state).toBe('paused')
    expect(consoleRun(view({ federation: federation({ phase: 'training' }) })).state).toBe('running')
    const stopped = view({
      run: { id: 7, state: 'stopped', reason: 'stopped by olga', startedAt: null, endedAt: 'x' },
    })
    expect(consoleRun(stopped)).toMatchObject({
      state: 'stopped',
      reason: 'stopped by olga',
      waiting: null,
      etaMs: null,
    })
  })

  it('the ETA is the mean round duration times the rounds left; none before a round ended', () => {
    expect(etaMs([], 5)).toBeNull()
    expect(etaMs([1000, 3000], 4)).toBe(8000)
    const run = consoleRun(
      view({ durations: [1000, 3000], federation: federation({ completed: 1, failed: 1, round: 2 }) }),
    )
    expect(run).toMatchObject({ round: 2, completed: 1, failed: 1, etaMs: 16_000 })
  })

  it('the last held-out metrics', () => {
    expect(consoleRun(view({ last: { accuracy: 0.75, auc: null } }))).toMatchObject({
      accuracy: 0.75,
      auc: null,
    })
  })
})

describe("a round's timeline entry", () => {
  it('a secure round: each stage with its span and whom it heard, the dropout at the stage that missed it, bytes, the majority line', () => {
    const stages = [
      timing('advertise', 0),
      timing('share-keys', 10),
      timing('masked-input', 20, ['c']),
      timing('unmask', 30),
    ]
    const entry = roundEntry('t', record(), { stages, traffic: { in: 500, out: 900 } }, 0.62)
    expect(entry).toMatchObject({
      task: 't',
      round: 1,
      status: 'aggregated',
      selected: 3,
      survivors: 2,
      dropouts: [{ participant: 'c', stage: 'masked-input' }],
      bytesIn: 500,
      bytesOut: 900,
      accuracy: 0.8,
      auc: 1,
      validation: null,
      test: { accuracy: 0.8, auc: 1 },
      participants: null,
      majority: 0.62,
      excluded: [],
      evaluation: null,
    })
    expect(entry.stages).toEqual([
      { stage: 'advertise', startedAt: 0, durationMs: 10, heard: 3, of: 3 },
      { stage: 'share-keys', startedAt: 10, durationMs: 10, heard: 3, of: 3 },
      { stage: 'masked-input', startedAt: 20, durationMs: 10, heard: 2, of: 3 },
      // unmask waits only for the survivors: c is not heard from there either
      { stage: 'unmask', startedAt: 30, durationMs: 10, heard: 2, of: 3 },
    ])
  })

  it('a failed round keeps its reason and no metrics; one an operator aborted has no dropouts but what its stages missed', () => {
    const failed = record({
      status: 'failed',
      reason: 'aborted by olga: wrong images',
      test: null,
      survivors: null,
      dropped: ['a', 'b', 'c'],
    })
    const entry = roundEntry(
      't',
      failed,
      { stages: [timing('advertise', 0, ['b'])], traffic: { in: 1, out: 1 } },
      0.5,
    )
    expect(entry).toMatchObject({ status: 'failed', reason: 'aborted by olga: wrong images', accuracy: null })
    expect(entry.dropouts).toEqual([{ participant: 'b', stage: 'advertise' }])
  })

  it('a survivor missing whom no closed stage missed dropped in the stage open at the end; an excluded one is no dropout', () => {
    const r = record({
      selected: ['a', 'b', 'c', 'd'],
      survivors: ['a'],
      excluded: [{ participant: 'd', by: 'a', reason: 'bad share' }],
    })
    expect(dropoutsOf(r, [timing('advertise', 0, ['b'], 4)], true)).toEqual([
      { participant: 'b', stage: 'advertise' },
      { participant: 'c', stage: 'share-keys' },
    ])
    expect(roundEntry('t', r, undefined, null).excluded).toEqual(['d'])
  })

  it("a plaintext-debug round is one 'update' stage; its dropouts sent no update", () => {
    const plain = record({
      survivors: null,
      selected: ['a', 'b'],
      dropped: ['b'],
      contributions: [
        {
          participant: 'a',
          examples: 4,
          trainLoss: 0,
        },
      ],
    })
    const entry = roundEntry('t', plain, undefined, null)
    expect(entry.stages).toEqual([
      { stage: 'update', startedAt: Date.parse(plain.startedAt), durationMs: 40, heard: 1, of: 2 },
    ])
    expect(entry).toMatchObject({
      survivors: 1,
      dropouts: [{ participant: 'b', stage: 'update' }],
      bytesIn: 0,
      bytesOut: 0,
    })
  })
})

describe("a round's evaluation, as the console shows it", () => {
  const labels = ['normal', 'pneumonia']
  // validation: 3 normal (2 right), 2 pneumonia (1 right)
  const validation = measured([0.1, 0.3, 0.8, 0.6, 0.45], [0, 0, 0, 1, 1])
  // the participants' pooled counts of the head they received: every image called pneumonia
  const participants = pooledMetrics(
    countEvaluation(Float32Array.from([0.2, 0.8, 0.3, 0.7, 0.1, 0.9]), Int32Array.from([0, 0, 1]), 2),
    2,
  )

  it("the chart's figures per set on every entry; the held-out ACC/AUC are the test set's, else the validation set's", () => {
    const both = roundEntry('t', record({ validation, participants }), undefined, null)
    expect(both).toMatchObject({
      accuracy: 0.8,
      auc: 1,
      validation: { accuracy: 0.6, auc: validation.auc },
      test: { accuracy: 0.8, auc: 1 },
      participants: { accuracy: 1 / 3, auc: participants?.auc ?? null },
      evaluation: null,
    })
    expect(roundEntry('t', record({ validation, test: null }), undefined, null)).toMatchObject({
      accuracy: 0.6,
      test: null,
    })
    expect(roundEntry('t', record({ test: null }), undefined, null)).toMatchObject({
      accuracy: null,
      auc: null,
      validation: null,
      test: null,
      participants: null,
    })
  })

  it("the validation set's confusion matrix with the task's label names and each class's recall and precision; every set side by side; the warnings", () => {
    const warning = dominantWarning(TEST, labels, 'test') ?? 'none'
    const e = roundEvaluation(record({ round: 4, validation, participants, warnings: [warning] }), labels)
    expect(e).toMatchObject({
      round: 4,
      labels,
      matrix: {
        set: 'validation',
        confusion: [
          [2, 1],
          [1, 1],
        ],
      },
      warnings: [warning],
    })
    expect(e?.matrix?.perClass.map((c) => [c.support, c.predicted, c.recall, c.precision])).toEqual([
      [3, 3, 2 / 3, 2 / 3],
      [2, 2, 1 / 2, 1 / 2],
    ])
    expect(e?.sets.map((x) => [x.set, x.examples, x.accuracy, x.binned])).toEqual([
      ['validation', 5, 0.6, false],
      ['test', 5, 0.8, false],
      ['participants', 3, 1 / 3, true],
    ])
    expect(e?.sets[0]).toMatchObject({
      balancedAccuracy: (2 / 3 + 1 / 2) / 2,
      auc: validation.auc,
      ece: validation.ece,
      ordinal: null,
    })
  })

  it("without a validation set the matrix is the test set's, without either the participants'; a class the task file does not name is named by its index", () => {
    expect(roundEvaluation(record(), labels)?.matrix?.set).toBe('test')
    const theirs = roundEvaluation(record({ test: null, participants }), ['normal'])
    expect(theirs?.matrix).toMatchObject({
      set: 'participants',
      confusion: [
        [0, 2],
        [0, 1],
      ],
    })
    expect(theirs?.labels).toEqual(['normal', 'class 1'])
  })

  it('a round measured on no set has no evaluation, unless a warning says why', () => {
    expect(roundEvaluation(record({ test: null }), labels)).toBeNull()
    const why =
      "participants: the pooled counts are inconsistent (a participant's counts are wrong); not reported"
    expect(roundEvaluation(record({ test: null, warnings: [why] }), labels)).toEqual({
      round: 1,
      labels,
      matrix: null,
      sets: [],
      warnings: [why],
    })
  })

  it('grades (ordinal labels): quadratic weighted kappa and the mean absolute grade error', () => {
    const probs = Float32Array.from([0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.8, 0.1, 0.1, 0.1, 0.1, 0.8])
    const grades = evaluatePredictions(probs, Int32Array.from([0, 1, 2, 2]), 3, { ordinal: true })
    const e = roundEvaluation(record({ validation: grades, test: null }), ['none', 'mild', 'severe'])
    expect(e?.sets[0]?.ordinal).toEqual({ qwk: grades.ordinal?.qwk, mae: 0.5 })
    expect(e?.matrix?.confusion).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [1, 0, 1],
    ])
  })

  it("the best round is the newest record's, named by the task's validation metric (AUC unless it names another)", () => {
    const records = [
      record({ round: 1, best: { round: 1, value: 0.7 } }),
      record({ round: 2, best: { round: 2, value: 0.75 } }),
      record({ round: 3, status: 'failed', best: null }),
    ]
    expect(bestRoundView(records, 'auc')).toEqual({ round: 2, metric: 'auc', value: 0.75 })
    expect(bestRoundView([record()], 'auc')).toBeNull()
    expect(bestRoundMetric(undefined)).toBe('auc')
    const qwk = { evaluation: { metric: 'qwk' } } as unknown as Parameters<typeof bestRoundMetric>[0]
    expect(bestRoundMetric(qwk)).toBe('qwk')
    expect(consoleRun(view({ best: { round: 2, metric: 'qwk', value: 0.41 } })).best).toEqual({
      round: 2,
      metric: 'qwk',
      value: 0.41,
    })
  })
})

describe('the live round', () => {
  it('heard counts those an earlier stage missed as not heard; the first 50 awaited are named', () => {
    const live = liveRound(
      't',
      3,
      100,
      4,
      { stage: 'unmask', waitingFor: ['b'], deadlineAt: 500 },
      new Set(['d']),
    )
    expect(live).toEqual({
      task: 't',
      round: 3,
      startedAt: 100,
      stage: 'unmask',
      heard: 2,
      of: 4,
      waitingFor: ['b'],
      more: 0,
      deadlineAt: 500,
    })
  })
})

describe("a participant's counters", () => {
  it('rounds in the sum, dropouts (not an operator’s abort), exclusions', () => {
    const records = [
      record(),
      record({ round: 2, survivors: ['a', 'c'], dropped: ['b'] }),
      record({
        round: 3,
        status: 'failed',
        reason: 'aborted by olga: x',
        survivors: null,
        dropped: ['a', 'b', 'c'],
      }),
      record({
        round: 4,
        survivors: ['b'],
        dropped: [],
        excluded: [{ participant: 'c', by: 'b', reason: 'r' }],
      }),
    ]
    expect(participantCounts(records, 'a')).toEqual({ rounds: 2, dropouts: 0, exclusions: 0 })
    expect(participantCounts(records, 'b')).toEqual({ rounds: 2, dropouts: 1, exclusions: 0 })
    expect(participantCounts(records, 'c')).toEqual({ rounds: 1, dropouts: 1, exclusions: 1 })
  })

  it('in a failed secure round, only who left at a stage dropped out, not who answered every stage', () => {
    // too few masked inputs: the record lists everyone outside the (empty) sum as dropped
    const failed = record({
      round: 2,
      status: 'failed',
      reason: 'secure aggregation failed: only 2 masked inputs arrived, 3 needed',
      survivors: null,
      dropped: ['a', 'b', 'c'],
    })
    const watched = (round: number) => (round === 2 ? ['c'] : undefined)
    expect(participantCounts([failed], 'a', watched)).toEqual({ rounds: 0, dropouts: 0, exclusions: 0 })
    expect(participantCounts([failed], 'c', watched)).toEqual({ rounds: 0, dropouts: 1, exclusions: 0 })
    // a round not watched by this process (before a restart): the record is all there is
    expect(participantCounts([failed], 'a')).toEqual({ rounds: 0, dropouts: 1, exclusions: 0 })
  })
})

describe("a round's bytes", () => {
  it('each connection from the round start (or its joining) to the round end (or its leaving)', () => {
    const counters = new Map([
      ['a', { in: 100, out: 1000 }],
      ['b', { in: 50, out: 50 }],
    ])
    const read = (name: string) => () => counters.get(name) ?? { in: 0, out: 0 }
    const traffic = new RoundTraffic()
    traffic.joined('a', read('a'))
    traffic.roundStarted()
    traffic.joined('b', read('b'))
    counters.set('b', { in: 80, out: 90 })
    traffic.left('b', { in: 80, out: 90 })
    counters.set('a', { in: 130, out: 1500 })
    expect(traffic.roundEnded()).toEqual({ in: 30 + 30, out: 500 + 40 })
    // read once: a round not started has none
    expect(traffic.roundEnded()).toEqual({ in: 0, out: 0 })
  })
})

describe("a console's origin", () => {
  it("the coordinator's own origin or none (a script) may connect; another page may not", () => {
    expect(originProblem({ origin: 'http://127.0.0.1:8080', host: '127.0.0.1:8080' }, false)).toBeNull()
    expect(originProblem({ host: '127.0.0.1:8080' }, false)).toBeNull()
    expect(originProblem({ origin: 'https://evil.example', host: '127.0.0.1:8080' }, false)).toMatch(
      /got one from "https:\/\/evil\.example"/,
    )
    expect(originProblem({ origin: 'null', host: 'h' }, false)).toMatch(/no URL/)
    // behind a believed proxy, the host the browser saw
    const proxied = {
      origin: 'https://fed.example',
      host: '10.0.0.2:8080',
      'x-forwarded-host': 'fed.example',
    }
    expect(originProblem(proxied, true)).toBeNull()
    expect(originProblem(proxied, false)).not.toBeNull()
  })
})

describe('the majority line', () => {
  it('the share of the most frequent held-out class; none without labels', () => {
    expect(majorityAccuracy(Int32Array.from([0, 1, 1, 1]), 2)).toBe(0.75)
    expect(majorityAccuracy(new Int32Array(0), 2)).toBeNull()
  })
})

describe('the live push throttle', () => {
  it('the first push goes at once, pushes within the window fold into one at its end, a stage change goes at once', async () => {
    const throttle = new Throttle(30)
    const runs: string[] = []
    let done!: () => void
    const folded = new Promise<void>((resolve) => {
      done = resolve
    })
    throttle.run('k', () => runs.push('first'))
    await Promise.resolve()
    expect(runs).toEqual(['first'])
    throttle.run('k', () => runs.push('second'))
    throttle.run('k', () => runs.push('folded into the second'))
    throttle.run(
      'k',
      () => {
        runs.push('stage')
        done()
      },
      true,
    )
    await folded
    expect(runs).toEqual(['first', 'stage'])
    throttle.close()
  })
})

describe("a run's privacy, as the console shows it", () => {
  const settings: PrivacySettings = {
    unit: 'example',
    epsilon: 3,
    delta: 1e-5,
    clipNorm: 1,
    noiseMultiplier: 1.1,
    rounds: 10,
    samplingRate: 0.1,
    stepsPerRound: 10,
  }
  const spent = { unit: 'example', epsilon: 1.25, target: 3, delta: 1e-5 } as const
  const task = {
    unit: 'example',
    epsilon: 3,
    delta: 1e-5,
    clipNorm: 1,
    noiseMultiplier: null,
    samplingRate: 0.1,
  } as const

  it('a serving run: its budget now and the statement its participants are shown', () => {
    expect(runPrivacy({ task, served: { settings, spent }, records: [] })).toEqual({
      privacy: spent,
      privacyStatement: privacyStatement(settings),
    })
    const shown = consoleRun(view({ privacy: spent, privacyStatement: privacyStatement(settings) }))
    expect(shown.privacy).toEqual(spent)
    expect(shown.privacyStatement[0]).toMatch(/^Differential privacy for each example/)
  })

  it('a run it does not serve: the last kept round’s ε of the file’s target, no statement (its z was derived then)', () => {
    const privacy = { unit: 'example', epsilon: 0.8, delta: 1e-5, target: 3, survivors: 2 } as const
    const records = [record({ round: 1, privacy }), record({ round: 2, status: 'failed', privacy: null })]
    expect(runPrivacy({ task, served: null, records })).toEqual({
      privacy: { unit: 'example', epsilon: 0.8, target: 3, delta: 1e-5 },
      privacyStatement: [],
    })
    expect(runPrivacy({ task, served: null, records: [] }).privacy?.epsilon).toBe(0)
  })

  it('a task without privacy says it gives no guarantee', () => {
    expect(runPrivacy({ task: null, served: null, records: [] })).toEqual({
      privacy: null,
      privacyStatement: privacyStatement(null),
    })
    expect(
      runPrivacy({ task: null, served: { settings: null, spent: null }, records: [] }).privacyStatement[0],
    ).toBe('This task gives no differential-privacy guarantee.')
  })

  it('each round’s entry carries the ε spent up to it', () => {
    const privacy = { unit: 'participant', epsilon: 2.5, delta: 1e-5, target: 8, survivors: 3 } as const
    expect(roundEntry('t', record({ privacy }), undefined, null).epsilon).toBe(2.5)
    expect(roundEntry('t', record(), undefined, null).epsilon).toBeNull()
  })
})
