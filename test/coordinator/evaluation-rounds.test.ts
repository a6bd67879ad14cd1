import { type EvaluatedSets, earlyStop, formatRecord, roundPrior, roundResult } from '@fedtune/coordinator'
import { evaluatePredictions, labelMix } from '@fedtune/model'
import { missingLabelWarning } from '@fedtune/model/node'
import type { HelloAck, ReceivedRefusalCode } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { bestLine } from '../../cli/src/status-command.ts'
import { clinical } from '../clinical-fixture.ts'
import { startTestCoordinator, type TestCoordinatorOverrides, testParticipant } from '../harness.ts'
import { storeWithViewer } from '../test-store.ts'

/**
 * Issue 15, items 1–3, the coordinator's side: every aggregated round's head measured on the
 * validation and test sets with its prior, the best round by validation, patience, the one-class
 * warning. Plaintext rounds of three participants, which run by themselves (every round is full).
 */

const joinAll = (...clients: { joined: Promise<HelloAck<ReceivedRefusalCode>> }[]) =>
  Promise.all(clients.map((c) => c.joined))

/** A coordinator whose evaluation answers round r (its r-th call) with `script(r, prior)`. */
async function run(
  script: (round: number, prior: readonly number[] | null) => EvaluatedSets,
  o: TestCoordinatorOverrides = {},
) {
  const priors: (readonly number[] | null)[] = []
  const h = await startTestCoordinator({
    secure: false,
    rounds: 10,
    evaluate: (_weights, prior) => {
      priors.push(prior)
      return script(priors.length, prior)
    },
    ...o,
  })
  const a = testParticipant(h, 'a')
  return { h, a, priors, joined: joinAll(a, testParticipant(h, 'b'), testParticipant(h, 'c')) }
}

const validationAuc = (aucs: readonly number[]) => (round: number) => ({
  validation: clinical(0.5, aucs[round - 1] ?? 0.5, 20),
  test: clinical(0.6, 0.61, 30),
})

describe('the best round and patience', () => {
  it('every round records the best round so far by validation AUC, and marks it in the log line', async () => {
    const { h, joined } = await run(validationAuc([0.7, 0.8, 0.8, 0.75]), { rounds: 4 })
    await joined
    await h.federation.done
    expect(h.records.map((r) => r.best)).toEqual([
      { round: 1, value: 0.7 },
      { round: 2, value: 0.8 },
      // a tie keeps the earlier round
      { round: 2, value: 0.8 },
      { round: 2, value: 0.8 },
    ])
    expect(h.federation.best).toEqual({ round: 2, value: 0.8 })
    const [first, second, third] = h.records.map((r) => formatRecord(r, 4))
    expect(second).toContain(
      'val ACC 0.500 bACC 0.500 AUC 0.800  test ACC 0.600 bACC 0.600 AUC 0.610  ★ best',
    )
    expect(first).toContain('★ best')
    expect(third).not.toContain('★')
  })

  it('patience ends the run as finished once that many rounds brought no better validation figure, the last one kept and announced first', async () => {
    const { h, a, joined } = await run(validationAuc([0.7, 0.9, 0.85, 0.88, 0.95]), {
      selection: { metric: 'auc', patience: 2 },
    })
    const finished = new Promise<{ rounds: number; completed: number }>((resolve) =>
      a.socket.once('finished', resolve),
    )
    const results: number[] = []
    a.socket.on('round-result', (r: { round: number }) => results.push(r.round))
    await joined
    const done = await h.federation.done
    expect(done).toEqual({
      reason: 'stopped early: validation AUC has not improved for 2 rounds (best: round 2, 0.900)',
      completed: 4,
      failed: 0,
    })
    expect(h.records.map((r) => r.round)).toEqual([1, 2, 3, 4])
    expect(h.records.at(-1)?.best).toEqual({ round: 2, value: 0.9 })
    expect((await finished).completed).toBe(4)
    // round 4's result reached the participants before the end of the run
    expect(results).toEqual([1, 2, 3, 4])
  })

  it('the operators’ status names the best round, its validation figure and its test figures', async () => {
    const { store, viewer } = await storeWithViewer()
    const { h, joined } = await run(validationAuc([0.7, 0.9, 0.85]), { rounds: 3, store })
    await joined
    await h.federation.done
    const status = (await h.app.inject({ method: 'GET', url: '/api/status', headers: viewer })).json()
    const test = { examples: 30, accuracy: 0.6, balancedAccuracy: 0.6, auc: 0.61, qwk: null }
    expect(status.best).toEqual({
      round: 2,
      metric: 'auc',
      value: 0.9,
      validation: { examples: 20, accuracy: 0.5, balancedAccuracy: 0.5, auc: 0.9, qwk: null },
      test,
    })
    expect(bestLine(status.best)).toBe(
      'best round 2 by validation AUC 0.900 (the exported model); test: ACC 0.600, balanced ACC 0.600, AUC 0.610 (30 images)',
    )
  })

  it('patience counts from the start while no round has a validation figure; the metric may be another', async () => {
    const { h, joined } = await run(() => ({ validation: null, test: clinical(0.6, 0.7) }), {
      selection: { metric: 'balancedAccuracy', patience: 3 },
    })
    await joined
    expect(await h.federation.done).toMatchObject({
      reason: 'stopped early: no validation balanced accuracy in 3 rounds',
      completed: 3,
    })
    expect(h.records.every((r) => r.best === null)).toBe(true)
  })

  it('a resumed run carries its best round on: patience counts from it', async () => {
    const { h, joined } = await run(validationAuc([0.8, 0.85]), {
      selection: { metric: 'auc', patience: 3 },
      resumed: {
        round: 5,
        completed: 5,
        failed: 0,
        server: null,
        labelCounts: [20, 10],
        global: new Float32Array(18),
        best: { round: 3, value: 0.9 },
      },
    })
    await joined
    expect(await h.federation.done).toMatchObject({
      reason: 'stopped early: validation AUC has not improved for 3 rounds (best: round 3, 0.900)',
      completed: 6,
    })
    expect(h.records.map((r) => [r.round, r.best])).toEqual([[6, { round: 3, value: 0.9 }]])
  })

  it('says why it stopped in an operator’s words', () => {
    expect(earlyStop({ round: 12, value: 0.9134 }, 32, { metric: 'auc', patience: 20 })).toBe(
      'stopped early: validation AUC has not improved for 20 rounds (best: round 12, 0.913)',
    )
    expect(earlyStop({ round: 4, value: 0.5 }, 5, { metric: 'qwk', patience: 1 })).toBe(
      'stopped early: validation QWK has not improved for 1 round (best: round 4, 0.500)',
    )
  })
})

describe('what each round records of the coordinator’s evaluation', () => {
  it('the validation and test metrics, the prior, and what participants are told: the test figures', async () => {
    const { h, joined } = await run(validationAuc([0.7]), { rounds: 1 })
    await joined
    const record = await h.recorded(1)
    expect(record).toMatchObject({
      status: 'aggregated',
      validation: clinical(0.5, 0.7, 20),
      test: clinical(0.6, 0.61, 30),
      warnings: [],
    })
    expect(roundResult(record)).toMatchObject({ accuracy: 0.6, auc: 0.61 })
    expect(roundResult({ ...record, test: null })).toMatchObject({ accuracy: 0.5, auc: 0.7 })
    expect(roundResult({ ...record, test: null, validation: null })).toMatchObject({
      accuracy: null,
      auc: null,
    })
  })

  it('a head that predicts one class for more than 95 % of a set is flagged per set, in the record and the log', async () => {
    // 20 images of each label, every one predicted "a": a real evaluation of a one-class head
    const labels = Int32Array.from({ length: 40 }, (_, i) => (i < 20 ? 0 : 1))
    const probs = Float32Array.from({ length: 80 }, (_, i) => (i % 2 === 0 ? 0.9 : 0.1))
    const oneClass = evaluatePredictions(probs, labels, 2)
    const { h, joined } = await run(() => ({ validation: oneClass, test: clinical(0.6, 0.7) }), {
      rounds: 1,
    })
    await joined
    const record = await h.recorded(1)
    expect(record.validation?.accuracy).toBe(0.5)
    expect(record.warnings).toEqual([
      'validation: the head predicts "a" for 40 of 40 images (100.0 %); its accuracy says little',
    ])
    expect(h.warnings).toContain(
      'round 1: validation: the head predicts "a" for 40 of 40 images (100.0 %); its accuracy says little',
    )
  })

  it('a logit-adjusted head predicts with its round’s label mix: evaluated, recorded and sent with the next round', async () => {
    const starts: (readonly number[] | null)[] = []
    const { h, a, priors, joined } = await run(validationAuc([0.7, 0.8]), {
      rounds: 2,
      loss: 'logit-adjusted',
    })
    a.socket.on('round', (raw: { predictionPrior: readonly number[] | null }) =>
      starts.push(raw.predictionPrior),
    )
    await joined
    await h.federation.done
    // three participants of 10 examples, all of label a
    const mix = labelMix([30, 0], 2) as number[]
    expect(mix).toEqual([31 / 32, 1 / 32])
    expect(priors).toEqual([mix, mix])
    expect(h.records.map((r) => r.prior)).toEqual([mix, mix])
    expect(h.federation.globalPrior).toEqual(mix)
    // round 1's head is the initial one (no aggregate yet: plain softmax); round 2's is round 1's
    expect(starts).toEqual([null, mix])
  })

  it('with prior "uniform", or with cross-entropy, the head predicts with plain softmax', async () => {
    const uniform = await run(validationAuc([0.7]), {
      rounds: 1,
      loss: 'logit-adjusted',
      predictionPrior: 'uniform',
    })
    await uniform.joined
    await uniform.h.federation.done
    expect(uniform.priors).toEqual([null])
    expect(uniform.h.records[0]?.prior).toBeNull()
    expect(roundPrior('cross-entropy', 'federation', [3, 1], 2)).toBeNull()
    expect(roundPrior('logit-adjusted', 'uniform', [3, 1], 2)).toBeNull()
    expect(roundPrior('logit-adjusted', 'federation', null, 2)).toBeNull()
    expect(roundPrior('logit-adjusted', 'federation', [3, 1], 2)).toEqual([4 / 6, 2 / 6])
  })
})

describe('an evaluation set with no image of a label', () => {
  it('is warned about with the count per label; a set with every label is not', () => {
    const labels = ['grade0', 'grade1', 'grade2']
    expect(
      missingLabelWarning('the validation set', '/data/validation', Int32Array.from([0, 0, 2]), labels),
    ).toBe(
      'the validation set /data/validation has no image of "grade1" (images per label: grade0 2, grade1 0, grade2 1); its figures say nothing of that label',
    )
    expect(missingLabelWarning('the test set', '/t', Int32Array.from([0, 0]), labels)).toBe(
      'the test set /t has no image of "grade1", "grade2" (images per label: grade0 2, grade1 0, grade2 0); its figures say nothing of those labels',
    )
    expect(missingLabelWarning('the test set', '/t', Int32Array.from([0, 1, 2]), labels)).toBeNull()
  })
})
