import { MAX_TURN_MS, type PacerHost, ReadPacer, readPacing } from '@fedtune/coordinator'
import { describe, expect, it } from 'vitest'
import { federateConstants, startTestCoordinator, testParticipant } from '../harness.ts'

/** A host whose time moves only when told, and which records every block instead of blocking. */
function fakeHost() {
  let now = 1_000_000
  let turnEnd: (() => void) | null = null
  const blocks: number[] = []
  const host: PacerHost = {
    now: () => now,
    block: (ms) => {
      blocks.push(ms)
      now += ms
    },
    atTurnEnd: (fn) => {
      if (turnEnd !== null) throw new Error('a second turn-end scheduled within one turn')
      turnEnd = fn
    },
  }
  return {
    host,
    blocks,
    advance: (ms: number) => {
      now += ms
    },
    /** The loop's check phase: what was scheduled for this turn's end runs. */
    endTurn: () => {
      const fn = turnEnd
      turnEnd = null
      fn?.()
    },
    get scheduled() {
      return turnEnd !== null
    },
  }
}

/** `reads` messages in one turn that worked `workMs`, then the turn's end. */
function turn(fake: ReturnType<typeof fakeHost>, pacer: ReadPacer, reads: number, workMs: number) {
  for (let i = 0; i < reads; i++) pacer.read()
  fake.advance(workMs)
  fake.endTurn()
}

describe('read pacing: a busy event loop reads many messages a wake-up', () => {
  it('a small federation never waits: below busyPerSecond nothing is scheduled or blocked', () => {
    const fake = fakeHost()
    const pacer = new ReadPacer({ turnMs: 20, busyPerSecond: 200 }, fake.host)
    // three hospitals' four stages, many times over, at a few messages a second
    for (let i = 0; i < 300; i++) {
      pacer.read()
      expect(fake.scheduled).toBe(false)
      fake.advance(50)
    }
    expect(fake.blocks).toEqual([])
    expect(pacer.blocked).toEqual({ ms: 0, times: 0 })
  })

  it('while busy, a short turn is stretched to turnMs by one block, however many messages it read', () => {
    const fake = fakeHost()
    const pacer = new ReadPacer({ turnMs: 20, busyPerSecond: 10 }, fake.host)
    turn(fake, pacer, 10, 1) // the tenth message makes it busy; the loop had been idle: no wait
    expect(fake.blocks).toEqual([])
    turn(fake, pacer, 1, 3)
    expect(fake.blocks).toEqual([17])
    turn(fake, pacer, 25, 5)
    expect(fake.blocks).toEqual([17, 15])
    expect(pacer.blocked).toEqual({ ms: 32, times: 2 })
  })

  it('a turn that worked longer than turnMs does not wait', () => {
    const fake = fakeHost()
    const pacer = new ReadPacer({ turnMs: 20, busyPerSecond: 10 }, fake.host)
    turn(fake, pacer, 10, 1)
    turn(fake, pacer, 40, 35)
    turn(fake, pacer, 40, 20)
    expect(fake.blocks).toEqual([])
  })

  it('after the loop was idle, the first turn is not held back: the wait counts from the last turn end', () => {
    const fake = fakeHost()
    const pacer = new ReadPacer({ turnMs: 20, busyPerSecond: 5 }, fake.host)
    turn(fake, pacer, 5, 1)
    fake.advance(500) // idle in epoll: no message for half a second
    turn(fake, pacer, 1, 2)
    expect(fake.blocks).toEqual([])
    turn(fake, pacer, 1, 2)
    expect(fake.blocks).toEqual([18])
  })

  it('pacing stops once the rate over the last second falls below busyPerSecond', () => {
    const fake = fakeHost()
    const pacer = new ReadPacer({ turnMs: 20, busyPerSecond: 100 }, fake.host)
    // 4 messages a turn: busy from the 100th (turn 25), whose end starts the clock; then 25 short turns
    for (let i = 0; i < 50; i++) turn(fake, pacer, 4, 0)
    const busy = fake.blocks.length
    expect(busy).toBe(25)
    fake.advance(3000)
    for (let i = 0; i < 20; i++) {
      turn(fake, pacer, 1, 0) // then one message every 100 ms: 10 a second
      fake.advance(100)
    }
    expect(fake.blocks.length).toBe(busy)
  })

  it('turnMs 0 turns it off: nothing is ever scheduled', () => {
    const fake = fakeHost()
    const pacer = new ReadPacer({ turnMs: 0, busyPerSecond: 1 }, fake.host)
    for (let i = 0; i < 1000; i++) pacer.read()
    expect(fake.scheduled).toBe(false)
  })

  it('a pacing outside its range is refused with what was expected and what arrived', () => {
    expect(() => readPacing({ turnMs: MAX_TURN_MS + 1 })).toThrow(
      `read pacing: expected a turn of 0 (off) to ${MAX_TURN_MS} ms, got ${MAX_TURN_MS + 1}`,
    )
    expect(() => readPacing({ turnMs: 2.5 })).toThrow('got 2.5')
    expect(() => readPacing({ turnMs: -1 })).toThrow('got -1')
    expect(() => readPacing({ busyPerSecond: 0 })).toThrow(
      'read pacing: expected busyPerSecond to be a positive whole number, got 0',
    )
    expect(readPacing({})).toEqual({ turnMs: 20, busyPerSecond: 40 })
  })

  it("the process's block really blocks the event loop for that long", () => {
    const pacer = new ReadPacer({ turnMs: 30, busyPerSecond: 1 })
    const from = performance.now()
    pacer.read()
    return new Promise<void>((resolve) => {
      setImmediate(() => {
        // the pacer's turn end ran first (scheduled first); a fresh loop had no last turn: no block
        pacer.read()
        setImmediate(() => {
          expect(pacer.blocked.times).toBe(1)
          expect(performance.now() - from).toBeGreaterThanOrEqual(25)
          resolve()
        })
      })
    })
  })
})

describe('read pacing over real sockets', () => {
  /** Two secure rounds of three participants, each adding its own constant; the last head's bytes. */
  async function federate(pacing: { turnMs: number; busyPerSecond: number }) {
    let pacer: ReadPacer | undefined
    const h = await startTestCoordinator({ rounds: 2, pacing, onPacer: (p) => (pacer = p) })
    return { ...(await federateConstants(h)), blocked: pacer?.blocked }
  }

  it('a storm of hellos is not paced: only joined participants count, so reconnecting is not slowed', async () => {
    let pacer: ReadPacer | undefined
    // 12 are needed: the ten below join and wait, no round starts
    const h = await startTestCoordinator({
      minParticipants: 12,
      participantsPerRound: 12,
      pacing: { turnMs: 20, busyPerSecond: 1 },
      onPacer: (p) => (pacer = p),
    })
    const joined = Array.from({ length: 10 }, (_, i) => testParticipant(h, `p${i}`).joined)
    for (const ack of await Promise.all(joined)) expect(ack).toMatchObject({ ok: true })
    expect(pacer?.blocked).toEqual({ ms: 0, times: 0 })
  })

  it('paced at every message, a secure federation aggregates the same heads as unpaced', async () => {
    const paced = await federate({ turnMs: 20, busyPerSecond: 1 })
    const unpaced = await federate({ turnMs: 0, busyPerSecond: 1 })
    expect(paced.record).toMatchObject({ status: 'aggregated', survivors: ['a', 'b', 'c'] })
    expect(unpaced.record).toMatchObject({ status: 'aggregated', survivors: ['a', 'b', 'c'] })
    expect(paced.head.equals(unpaced.head)).toBe(true)
    expect(paced.blocked?.times).toBeGreaterThan(0)
    expect(paced.blocked?.ms).toBeLessThanOrEqual((paced.blocked?.times ?? 0) * 20)
    expect(unpaced.blocked).toEqual({ ms: 0, times: 0 })
  })
})
