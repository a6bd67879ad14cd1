import { ConsoleFeed, type FeedHost, type FeedOut, type RoundRecord } from '@fedtune/coordinator'
import type { Run, Store } from '@fedtune/coordinator/store'
import { type ClinicalMetrics, evaluatePredictions } from '@fedtune/model'
import type { ConsoleRun, RoundEntry } from '@fedtune/protocol'
import { ProtocolError } from '@fedtune/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { type KeptRound, keptTimeline } from '../../console/src/kept-timeline.ts'
import { startTestCoordinator } from '../harness.ts'
import { addOperator, bearerFor, openTestStore } from '../test-store.ts'

/**
 * A coordinator restarted after a run ended serves it no more: the console's runs list and
 * timeline read that run's rounds from the store (a real one, embedded PGlite), not from a
 * federation that is gone.
 */
const closing: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closing.splice(0)) await close()
})

/** A head's metrics on a binary test set, from each image's probability of class 1. */
const measured = (p1: readonly number[], labels: readonly number[]) =>
  evaluatePredictions(Float32Array.from(p1.flatMap((p) => [1 - p, p])), Int32Array.from(labels), 2)

const record = (
  round: number,
  status: 'aggregated' | 'failed',
  test: ClinicalMetrics | null,
  more: Partial<RoundRecord> = {},
): RoundRecord => ({
  round,
  status,
  reason: status === 'failed' ? 'secure aggregation failed: only 2 masked inputs arrived' : null,
  startedAt: '2026-12-02T10:00:00.000Z',
  durationMs: 1000 * round,
  selected: ['a', 'b', 'c'],
  contributions: [],
  dropped: [],
  examples: status === 'aggregated' ? 30 : 0,
  labelCounts: null,
  validation: null,
  test,
  participants: null,
  prior: null,
  best: null,
  warnings: [],
  ...more,
})

/** 3 of 4 right (ACC 0.75); 4 of 5 right (ACC 0.8), every positive above every negative (AUC 1). */
const ROUND_1 = measured([0.2, 0.7, 0.8, 0.9], [0, 0, 1, 1])
const ROUND_3 = measured([0.2, 0.3, 0.7, 0.9, 0.4], [0, 0, 1, 1, 1])

const WARNING = 'test: the head predicts "normal" for 5 of 5 images (100.0 %); its accuracy says little'

/**
 * A run of task "xray" that ended with three kept rounds (aggregated, failed, aggregated with a
 * warning) in `store`, and what a host restarted after it knows: the task and its run, no
 * federation serving it.
 */
async function endedRun(store: Store): Promise<{ run: Run; host: FeedHost }> {
  await store.tasks.submit({ name: 'xray', file: {}, submittedBy: 'ada' })
  const settings = {
    head: { labels: ['normal', 'pneumonia'] },
    training: { rounds: 3 },
    aggregation: { mode: 'secure' },
  }
  const run = await store.runs.create({ task: 'xray', settings })
  await store.runs.setState(run.id, 'running')
  const kept = [
    record(1, 'aggregated', ROUND_1, { validation: ROUND_1, best: { round: 1, value: ROUND_1.auc ?? 0 } }),
    record(2, 'failed', null, { best: { round: 1, value: ROUND_1.auc ?? 0 } }),
    record(3, 'aggregated', ROUND_3, { best: { round: 1, value: ROUND_1.auc ?? 0 }, warnings: [WARNING] }),
  ]
  for (const r of kept) await store.rounds.commit(run.id, r, r.status === 'aggregated' ? `h${r.round}` : null)
  const ended = await store.runs.setState(run.id, 'finished', 'all 3 rounds done')
  return { run: ended, host: hostOf(ended, 'finished') }
}

/** A host whose only task, "xray", has `run` in `phase`, served by no federation in this process. */
function hostOf(run: Run, phase: 'serving' | 'finished'): FeedHost {
  return {
    list: () => [{ name: 'xray', phase }] as unknown as ReturnType<FeedHost['list']>,
    open: (task) => {
      throw new ProtocolError('unknown-task', `${task} serves no run in this process`)
    },
    runOf: (task) => (task === 'xray' ? run : null),
    preparingOf: () => null,
  }
}

describe('the console after a restart', () => {
  it('shows a run that ended before it with its rounds, counts and last accuracy, read from the store', async () => {
    const store = await openTestStore()
    const { run, host } = await endedRun(store)
    const pushed: ConsoleRun[] = []
    const out: FeedOut = {
      watched: () => true,
      toAll: (event, ...args) => {
        if (event === 'run') pushed.push(args[0] as ConsoleRun)
      },
      toWatchers: () => {},
    }
    const feed = new ConsoleFeed({ store, host })
    closing.push(async () => feed.close())
    feed.attach(out)

    // asked at once, it has not read the store yet; once it has, it pushes the run again
    expect(feed.runs()).toMatchObject([{ task: 'xray', state: 'finished', round: 0 }])
    await expect.poll(() => pushed.length).toBeGreaterThan(0)
    expect(pushed.at(-1)).toMatchObject({
      task: 'xray',
      run: run.id,
      state: 'finished',
      round: 3,
      rounds: 3,
      completed: 2,
      failed: 1,
      accuracy: 0.8,
      auc: 1,
      best: { round: 1, metric: 'auc', value: ROUND_1.auc },
      waiting: null,
      etaMs: null,
    })
    expect(feed.runs()).toEqual([pushed.at(-1)])
    const watched = await feed.watch('xray')
    if (!watched.ok) throw new Error(watched.message)
    expect(watched.timeline.map((e) => [e.round, e.status, e.accuracy])).toEqual([
      [1, 'aggregated', 0.75],
      [2, 'failed', null],
      [3, 'aggregated', 0.8],
    ])
    // the confusion matrix in full only for the latest aggregated round, named by the task's labels
    expect(watched.timeline.map((e) => e.evaluation?.round ?? null)).toEqual([null, null, 3])
    expect(watched.timeline[0]?.validation).toEqual({ accuracy: 0.75, auc: ROUND_1.auc })
    expect(watched.timeline.at(-1)?.evaluation).toMatchObject({
      labels: ['normal', 'pneumonia'],
      matrix: {
        set: 'test',
        confusion: [
          [2, 0],
          [1, 2],
        ],
      },
      warnings: [WARNING],
    })
  })

  it('pushes an aggregated round that ends with its evaluation in full, a failed one without', async () => {
    const store = await openTestStore()
    await store.tasks.submit({ name: 'xray', file: {}, submittedBy: 'ada' })
    const run = await store.runs.create({
      task: 'xray',
      settings: { head: { labels: ['normal', 'pneumonia'] } },
    })
    const host = hostOf(run, 'serving')
    const ended: RoundEntry[] = []
    const feed = new ConsoleFeed({ store, host })
    closing.push(async () => feed.close())
    feed.attach({
      watched: () => true,
      toAll: () => {},
      toWatchers: (_task, event, ...args) => {
        if (event === 'round-ended') ended.push(args[0] as RoundEntry)
      },
    })
    const observer = feed.observerOf(run)
    observer.roundEnded?.(record(1, 'aggregated', ROUND_3))
    observer.roundEnded?.(record(2, 'failed', null))
    expect(ended.map((e) => e.evaluation?.matrix?.confusion ?? null)).toEqual([
      [
        [2, 0],
        [1, 2],
      ],
      null,
    ])
    expect(ended[0]?.evaluation?.matrix?.perClass.map((c) => c.recall)).toEqual([1, 2 / 3])
  })
})

describe('the console without its live feed', () => {
  it('reads the latest aggregated round’s evaluation in full over REST, as the feed gives it', async () => {
    const store = await openTestStore()
    const { run, host } = await endedRun(store)
    const feed = new ConsoleFeed({ store, host })
    closing.push(async () => feed.close())
    const h = await startTestCoordinator({ store })
    closing.push(() => h.close())
    await addOperator(store, 'viewer', 'vic')

    // the page's REST picture: GET /api/runs/:id/rounds, made a timeline as snapshot.ts makes it
    const answer = await h.app.inject({
      url: `/api/runs/${run.id}/rounds`,
      headers: { authorization: (await bearerFor(store, 'viewer', 'vic')).authorization },
    })
    expect(answer.statusCode).toBe(200)
    const { rounds } = answer.json() as { rounds: KeptRound[] }
    // every aggregated round's evaluation is in the answer; a failed round has none
    expect(rounds.map((r) => r.evaluation?.round ?? null)).toEqual([1, null, 3])
    const timeline = keptTimeline('xray', rounds)
    expect(timeline.map((e) => e.evaluation?.round ?? null)).toEqual([null, null, 3])
    // each class's recall and precision: 2 of 2 normal found, 2 of 3 pneumonia; 3 called normal
    expect(timeline.at(-1)?.evaluation?.matrix?.perClass.map((c) => [c.recall, c.precision])).toEqual([
      [1, 2 / 3],
      [2 / 3, 1],
    ])

    // the live feed's timeline of the same run: the same evaluation, so the panel draws the same
    await expect
      .poll(async () => {
        const w = await feed.watch('xray')
        return w.ok ? w.timeline.length : 0
      })
      .toBe(3)
    const watched = await feed.watch('xray')
    if (!watched.ok) throw new Error(watched.message)
    expect(timeline.map((e) => e.evaluation)).toEqual(watched.timeline.map((e) => e.evaluation))
  })
})
