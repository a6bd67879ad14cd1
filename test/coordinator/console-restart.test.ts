import { ConsoleFeed, type FeedHost, type FeedOut, type RoundRecord } from '@fedtune/coordinator'
import type { ConsoleRun } from '@fedtune/protocol'
import { ProtocolError } from '@fedtune/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { clinical } from '../clinical-fixture.ts'
import { openTestStore } from '../test-store.ts'

/**
 * A coordinator restarted after a run ended serves it no more: the console's runs list and
 * timeline read that run's rounds from the store (a real one, embedded PGlite), not from a
 * federation that is gone.
 */
const closing: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closing.splice(0)) await close()
})

const record = (round: number, status: 'aggregated' | 'failed', accuracy: number | null): RoundRecord => ({
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
  local: null,
  validation: null,
  test: accuracy === null ? null : clinical(accuracy, 0.9),
  participants: null,
  prior: null,
  best: null,
  warnings: [],
})

describe('the console after a restart', () => {
  it('shows a run that ended before it with its rounds, counts and last accuracy, read from the store', async () => {
    const store = await openTestStore()
    await store.tasks.submit({ name: 'xray', file: {}, submittedBy: 'ada' })
    const settings = { training: { rounds: 3 }, aggregation: { mode: 'secure' } }
    const run = await store.runs.create({ task: 'xray', settings })
    await store.runs.setState(run.id, 'running')
    const kept = [record(1, 'aggregated', 0.75), record(2, 'failed', null), record(3, 'aggregated', 0.8125)]
    for (const r of kept)
      await store.rounds.commit(run.id, r, r.status === 'aggregated' ? `h${r.round}` : null)
    const ended = await store.runs.setState(run.id, 'finished', 'all 3 rounds done')

    // what a host restarted after the run ended knows: the task and its run, no federation serving it
    const host: FeedHost = {
      list: () => [{ name: 'xray', phase: 'finished' }] as unknown as ReturnType<FeedHost['list']>,
      open: (task) => {
        throw new ProtocolError('unknown-task', `${task} serves no run in this process`)
      },
      runOf: (task) => (task === 'xray' ? ended : null),
      preparingOf: () => null,
    }
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
      accuracy: 0.8125,
      auc: 0.9,
      waiting: null,
      etaMs: null,
    })
    expect(feed.runs()).toEqual([pushed.at(-1)])
    const watched = await feed.watch('xray')
    expect(watched.ok && watched.timeline.map((e) => [e.round, e.status, e.accuracy])).toEqual([
      [1, 'aggregated', 0.75],
      [2, 'failed', null],
      [3, 'aggregated', 0.8125],
    ])
  })
})
