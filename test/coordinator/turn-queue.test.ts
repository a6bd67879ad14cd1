import { afterQueuedSends, type StageTiming, TurnQueue, type TurnQueueHost } from '@fedtune/coordinator'
import { describe, expect, it } from 'vitest'
import { federateConstants, startTestCoordinator } from '../harness.ts'

/** A host whose time moves only when told, and whose later turns run only when told. */
function fakeHost() {
  let now = 0
  const turns: (() => void)[] = []
  const host: TurnQueueHost = { now: () => now, later: (fn) => void turns.push(fn) }
  return {
    host,
    advance: (ms: number) => {
      now += ms
    },
    /** The loop's next turn: what was scheduled for it runs. */
    nextTurn: () => {
      const due = turns.splice(0)
      for (const fn of due) fn()
      return due.length
    },
    get scheduled() {
      return turns.length
    },
  }
}

describe('the turn queue: the shell does its work in order, a slice a turn', () => {
  it('nothing runs in the turn that handed it in; it all runs, in order, in the next', () => {
    const fake = fakeHost()
    const queue = new TurnQueue(() => {}, 10, fake.host)
    const done: number[] = []
    for (let i = 0; i < 5; i++) queue.push(() => done.push(i))
    expect(done).toEqual([])
    expect(fake.scheduled).toBe(1)
    expect(queue.pending).toBe(5)
    fake.nextTurn()
    expect(done).toEqual([0, 1, 2, 3, 4])
    expect(queue.pending).toBe(0)
    expect(fake.scheduled).toBe(0)
  })

  it('a turn spends at most sliceMs: the rest waits for the next turn, where it stopped', () => {
    const fake = fakeHost()
    const queue = new TurnQueue(() => {}, 10, fake.host)
    const done: number[] = []
    // each piece works 4 ms: 4 + 4 < 10, the third reaches 12
    for (let i = 0; i < 7; i++)
      queue.push(() => {
        done.push(i)
        fake.advance(4)
      })
    fake.nextTurn()
    expect(done).toEqual([0, 1, 2])
    expect(queue.pending).toBe(4)
    fake.nextTurn()
    expect(done).toEqual([0, 1, 2, 3, 4, 5])
    fake.nextTurn()
    expect(done).toEqual([0, 1, 2, 3, 4, 5, 6])
    expect(fake.scheduled).toBe(0)
  })

  it('a piece longer than the slice still runs: at least one a turn, so the queue always moves', () => {
    const fake = fakeHost()
    const queue = new TurnQueue(() => {}, 0, fake.host)
    const done: string[] = []
    queue.push(() => done.push('a'))
    queue.push(() => done.push('b'))
    fake.nextTurn()
    expect(done).toEqual(['a'])
    fake.nextTurn()
    expect(done).toEqual(['a', 'b'])
  })

  it('work handed in while the queue runs goes after everything before it', () => {
    const fake = fakeHost()
    const queue = new TurnQueue(() => {}, 10, fake.host)
    const done: string[] = []
    queue.push(() => {
      done.push('handle')
      queue.push(() => done.push('relay'))
    })
    queue.push(() => done.push('next message'))
    fake.nextTurn()
    expect(done).toEqual(['handle', 'next message', 'relay'])
  })

  it('a piece that throws is reported, and the pieces after it run all the same', () => {
    const fake = fakeHost()
    const errors: string[] = []
    const queue = new TurnQueue((error) => errors.push((error as Error).message), 10, fake.host)
    const done: number[] = []
    queue.push(() => done.push(1))
    queue.push(() => {
      throw new Error('a bug')
    })
    queue.push(() => done.push(3))
    fake.nextTurn()
    expect(done).toEqual([1, 3])
    expect(errors).toEqual(['a bug'])
    expect(queue.pending).toBe(0)
  })

  it('it holds at most maxInbound messages: past that, a slice runs on until it is back within it', () => {
    const fake = fakeHost()
    const queue = new TurnQueue(() => {}, 0, fake.host, 2)
    const done: string[] = []
    const piece = (name: string) => () => {
      done.push(name)
      fake.advance(1)
    }
    // sends are not messages: one a turn at a slice of 0, however many wait
    for (const p of ['a', 'b', 'c']) queue.push(piece(`send ${p}`))
    fake.nextTurn()
    expect(done).toEqual(['send a'])
    // five messages behind them: the slice runs until only two are left
    for (let i = 1; i <= 5; i++) queue.push(piece(`message ${i}`), true)
    expect(queue.pendingInbound).toBe(5)
    fake.nextTurn()
    expect(done).toEqual(['send a', 'send b', 'send c', 'message 1', 'message 2', 'message 3'])
    expect(queue.pendingInbound).toBe(2)
    fake.nextTurn()
    expect(done.at(-1)).toBe('message 4')
    fake.nextTurn()
    expect(done.at(-1)).toBe('message 5')
    expect(queue.pendingInbound).toBe(0)
  })

  it('a slice that is not a number of 0 ms or more, or a bound that is not a whole number, is refused, saying what arrived', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => new TurnQueue(() => {}, bad)).toThrow(
        `turn queue: expected a slice of 0 ms or more, got ${String(bad)}`,
      )
    for (const bad of [-1, 1.5, Number.NaN])
      expect(() => new TurnQueue(() => {}, 10, undefined, bad)).toThrow(
        `turn queue: expected a whole number ≥ 0 of inbound messages to hold, got ${String(bad)}`,
      )
  })
})

describe("the rounds' observers hear of what the queue has sent", () => {
  const timing = (stage: StageTiming['stage']): StageTiming => ({
    round: 1,
    stage,
    heard: 3,
    of: 3,
    missing: [],
    openedAt: 0,
    lastMessageAt: 1,
    closedAt: 2,
    relayedAt: 2,
  })

  it("a stage's relay is reported once its messages were sent, at the time they were; unmask's at once", () => {
    const fake = fakeHost()
    const queue = new TurnQueue(() => {}, 10, fake.host)
    const heard: string[] = []
    const observer = afterQueuedSends(
      {
        roundStarted: (round) => heard.push(`started ${round}`),
        stageRelayed: (t) => heard.push(`${t.stage} relayed at ${t.relayedAt}`),
        roundEnded: (record) => heard.push(`ended ${record.round}`),
      },
      (fn) => queue.push(fn),
      fake.host.now,
    )
    observer.roundStarted?.(1, 3)
    for (const p of ['a', 'b', 'c'])
      queue.push(() => {
        heard.push(`sent to ${p}`)
        fake.advance(1)
      })
    observer.stageRelayed?.(timing('advertise'))
    expect(heard).toEqual([])
    fake.nextTurn()
    expect(heard).toEqual(['started 1', 'sent to a', 'sent to b', 'sent to c', 'advertise relayed at 3'])
    observer.stageRelayed?.(timing('unmask'))
    expect(heard.at(-1)).toBe('unmask relayed at 2')
    queue.push(() => heard.push('result to a'))
    observer.roundEnded?.({ round: 1 } as Parameters<NonNullable<typeof observer.roundEnded>>[0])
    fake.nextTurn()
    expect(heard.slice(-2)).toEqual(['result to a', 'ended 1'])
  })
})

describe('the turn queue over real sockets', () => {
  /** Two secure rounds of three participants, each adding its own constant; the last head's bytes. */
  async function federate(sliceMs: number | undefined) {
    return federateConstants(
      await startTestCoordinator({ rounds: 2, ...(sliceMs === undefined ? {} : { sliceMs }) }),
    )
  }

  it('the shell works through the queue it is given: every message handled and every relay sent on it', async () => {
    /** Counts what is handed in, by direction. */
    class CountingQueue extends TurnQueue {
      inbound = 0
      outbound = 0
      override push(work: () => void, inbound = false): void {
        if (inbound) this.inbound++
        else this.outbound++
        super.push(work, inbound)
      }
    }
    const turns = new CountingQueue(() => {})
    const { record } = await federateConstants(await startTestCoordinator({ rounds: 2, turns }))
    expect(record).toMatchObject({ status: 'aggregated', survivors: ['a', 'b', 'c'] })
    // three hellos, then four stage messages from each of three in each of two rounds
    expect(turns.inbound).toBeGreaterThanOrEqual(3 + 2 * 3 * 4)
    // each round: a start and three relays to each of three (the last result may still be on its way)
    expect(turns.outbound).toBeGreaterThanOrEqual(2 * 3 * 4)
  })

  it('one piece a turn (slice 0), a secure federation aggregates the same heads as with the default slice', async () => {
    const sliced = await federate(0)
    const usual = await federate(undefined)
    expect(sliced.record).toMatchObject({ status: 'aggregated', survivors: ['a', 'b', 'c'] })
    expect(usual.record).toMatchObject({ status: 'aggregated', survivors: ['a', 'b', 'c'] })
    expect(sliced.head.equals(usual.head)).toBe(true)
  })
})
