import type {
  ConsoleParticipant,
  ConsoleRun,
  LiveRound,
  RoundEntry,
  RoundEvaluation,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { apply, EMPTY, type FeedState, latestEvaluation } from '../../console/src/feed-state.ts'
import { privacyText, waitingText } from '../../console/src/format.ts'

/** The console page's state as the live feed moves it: a pure function of the events, in order. */

const run = (task: string, over: Partial<ConsoleRun> = {}): ConsoleRun => ({
  task,
  run: 1,
  state: 'running',
  round: 1,
  rounds: 3,
  completed: 0,
  failed: 0,
  startedAt: '2026-12-02T10:00:00.000Z',
  endedAt: null,
  accuracy: null,
  auc: null,
  best: null,
  secure: true,
  waiting: null,
  etaMs: null,
  reason: null,
  privacy: null,
  privacyStatement: [],
  ...over,
})

const live = (task: string, round: number, stage: LiveRound['stage']): LiveRound => ({
  task,
  round,
  startedAt: 0,
  stage,
  heard: 1,
  of: 3,
  waitingFor: ['b', 'c'],
  more: 0,
  deadlineAt: 30_000,
})

const ended = (task: string, round: number, status: RoundEntry['status']): RoundEntry => ({
  task,
  round,
  status,
  reason: status === 'failed' ? 'too few masked inputs' : null,
  startedAt: '2026-12-02T10:00:00.000Z',
  durationMs: 1000,
  selected: 3,
  survivors: status === 'failed' ? 0 : 3,
  dropouts: [],
  stages: [],
  bytesIn: 10,
  bytesOut: 20,
  accuracy: status === 'failed' ? null : 0.7,
  auc: null,
  validation: null,
  test: status === 'failed' ? null : { accuracy: 0.7, auc: null },
  participants: null,
  majority: 0.6,
  excluded: [],
  epsilon: null,
  evaluation: null,
})

/** A round's evaluation in full, as the feed sends it on the latest aggregated round's entry. */
const evaluation = (round: number): RoundEvaluation => ({
  round,
  labels: ['normal', 'pneumonia'],
  matrix: {
    set: 'validation',
    confusion: [
      [8, 2],
      [1, 9],
    ],
    perClass: [],
  },
  sets: [],
  warnings: [],
})

const participant = (task: string, name: string, state: ConsoleParticipant['state']): ConsoleParticipant => ({
  task,
  name,
  kind: 'hospital',
  fingerprint: 'aa:bb',
  state,
  online: true,
  lastSeen: null,
  rounds: 0,
  dropouts: 0,
  exclusions: 0,
  agent: null,
})

const watching = (task: string): FeedState =>
  apply(apply(EMPTY, { type: 'runs', runs: [run(task), run('other')] }), {
    type: 'watch',
    watch: { run: run(task), live: null, timeline: [], participants: [participant(task, 'a', 'approved')] },
  })

describe('the console page’s feed state', () => {
  it('a run event replaces that run in the list and in the watched run, and no other', () => {
    const s = apply(watching('main'), { type: 'run', run: run('main', { state: 'paused' }) })
    expect(s.runs.get('main')?.state).toBe('paused')
    expect(s.runs.get('other')?.state).toBe('running')
    expect(s.watched?.run.state).toBe('paused')
  })

  it('live rounds and ended rounds of another task than the watched one change nothing', () => {
    const s = watching('main')
    expect(apply(s, { type: 'round-live', live: live('other', 1, 'advertise') })).toBe(s)
    expect(apply(s, { type: 'round-ended', entry: ended('other', 1, 'aggregated') })).toBe(s)
    expect(apply(s, { type: 'participant', participant: participant('other', 'x', 'pending') })).toBe(s)
  })

  it('a round that ends joins the timeline in round order, once, and clears its live stage', () => {
    let s = apply(watching('main'), { type: 'round-live', live: live('main', 2, 'share-keys') })
    expect(s.watched?.live?.stage).toBe('share-keys')
    s = apply(s, { type: 'round-ended', entry: ended('main', 2, 'failed') })
    s = apply(s, { type: 'round-ended', entry: ended('main', 1, 'aggregated') })
    s = apply(s, { type: 'round-ended', entry: ended('main', 2, 'failed') })
    expect(s.watched?.timeline.map((e) => [e.round, e.status])).toEqual([
      [1, 'aggregated'],
      [2, 'failed'],
    ])
    expect(s.watched?.live).toBeNull()
  })

  it('only the newest evaluation in full is kept: a round that ends with one drops the earlier, a failed round keeps it', () => {
    let s = watching('main')
    s = apply(s, {
      type: 'round-ended',
      entry: { ...ended('main', 1, 'aggregated'), evaluation: evaluation(1) },
    })
    expect(latestEvaluation(s.watched?.timeline ?? [])?.round).toBe(1)
    s = apply(s, {
      type: 'round-ended',
      entry: { ...ended('main', 2, 'aggregated'), evaluation: evaluation(2) },
    })
    expect(s.watched?.timeline.map((e) => e.evaluation?.round ?? null)).toEqual([null, 2])
    s = apply(s, { type: 'round-ended', entry: ended('main', 3, 'failed') })
    expect(s.watched?.timeline.map((e) => e.evaluation?.round ?? null)).toEqual([null, 2, null])
    expect(latestEvaluation(s.watched?.timeline ?? [])?.matrix?.confusion).toEqual([
      [8, 2],
      [1, 9],
    ])
    expect(latestEvaluation([])).toBeNull()
  })

  it('a participant event updates its row, or adds it in name order', () => {
    let s = apply(watching('main'), { type: 'participant', participant: participant('main', 'a', 'revoked') })
    s = apply(s, { type: 'participant', participant: participant('main', '0-first', 'pending') })
    expect(s.watched?.participants.map((p) => [p.name, p.state])).toEqual([
      ['0-first', 'pending'],
      ['a', 'revoked'],
    ])
  })

  it('keeps the newest pushed audit rows first', () => {
    const row = (id: number) => ({
      id,
      at: '',
      actor: 'ada',
      address: null,
      action: 'run.pause',
      target: null,
      task: 'main',
      run: 1,
      outcome: 'ok' as const,
      detail: {},
    })
    const s = apply(apply(EMPTY, { type: 'audit', entry: row(1) }), { type: 'audit', entry: row(2) })
    expect(s.audit.map((e) => e.id)).toEqual([2, 1])
  })
})

describe('what a run waits for, in words', () => {
  it('names each kind of wait, with the stragglers and the time left to the deadline', () => {
    expect(waitingText(null, 0)).toBe('')
    expect(waitingText({ kind: 'participants', online: 1, needed: 3 }, 0)).toBe(
      'participants to join (1 of 3 online)',
    )
    expect(waitingText({ kind: 'gather', until: 5_000 }, 0)).toBe('the gather window (5 s left)')
    expect(
      waitingText(
        { kind: 'stage', stage: 'masked-input', waitingFor: ['b'], more: 2, deadlineAt: 150_000 },
        0,
      ),
    ).toBe("masked input's stragglers: b, 2 more, 2 min 30 s to the deadline")
    expect(waitingText({ kind: 'resume', pausedBy: 'ada' }, 0)).toBe("an operator's resume (paused by ada)")
  })
})

describe('the privacy fact of a run', () => {
  it('says the ε spent of the target, or plainly that there is no guarantee', () => {
    expect(privacyText({ unit: 'example', epsilon: 1.234, target: 3, delta: 1e-5 })).toBe(
      'ε 1.23 of 3.00 spent (δ = 1e-5, per example)',
    )
    expect(privacyText(null)).toBe('none: this task gives no differential-privacy guarantee')
  })
})
