import { SignInLimiter } from '@fedtune/coordinator/operators'
import { describe, expect, it } from 'vitest'

const WINDOW = 15 * 60_000

describe('failed sign-ins, counted per address and per name', () => {
  it('five failures in the window (from the first failure) block the next attempt until the window ends', () => {
    const limiter = new SignInLimiter({ failures: 5, windowMs: WINDOW, maxKeys: 100 })
    for (let i = 0; i < 4; i++) limiter.failed('192.0.2.1', 'ada', 1000 * i)
    expect(limiter.retryAfterMs('192.0.2.1', 'ada', 5000)).toBe(0)
    limiter.failed('192.0.2.1', 'ada', 5000)
    expect(limiter.retryAfterMs('192.0.2.1', 'ada', 5000)).toBe(WINDOW - 5000)
    expect(limiter.retryAfterMs('192.0.2.1', 'ada', WINDOW - 1)).toBe(1)
    expect(limiter.retryAfterMs('192.0.2.1', 'ada', WINDOW)).toBe(0)
  })

  it('one address guessing many names is blocked, and so is one name guessed from many addresses', () => {
    const limiter = new SignInLimiter({ failures: 5, windowMs: WINDOW, maxKeys: 100 })
    for (let i = 0; i < 5; i++) limiter.failed('192.0.2.1', `name-${i}`, 0)
    expect(limiter.retryAfterMs('192.0.2.1', 'someone-else', 0)).toBe(WINDOW)
    for (let i = 0; i < 5; i++) limiter.failed(`198.51.100.${i}`, 'ada', 0)
    expect(limiter.retryAfterMs('203.0.113.1', 'ada', 0)).toBe(WINDOW)
    expect(limiter.retryAfterMs('203.0.113.1', 'bob', 0)).toBe(0)
  })

  it("a success resets the name's count, not the address's", () => {
    const limiter = new SignInLimiter({ failures: 2, windowMs: WINDOW, maxKeys: 100 })
    limiter.failed('192.0.2.1', 'ada', 0)
    limiter.failed('192.0.2.2', 'ada', 0)
    expect(limiter.retryAfterMs('192.0.2.9', 'ada', 0)).toBe(WINDOW)
    limiter.succeeded('ada')
    expect(limiter.retryAfterMs('192.0.2.9', 'ada', 0)).toBe(0)
    limiter.failed('192.0.2.1', 'bob', 0)
    expect(limiter.retryAfterMs('192.0.2.1', 'carol', 0)).toBe(WINDOW)
  })

  it('remembers at most maxKeys keys, dropping expired ones first, then the oldest', () => {
    const limiter = new SignInLimiter({ failures: 5, windowMs: WINDOW, maxKeys: 1000 })
    // A flood of failures from ever new addresses under ever new names.
    for (let i = 0; i < 100_000; i++) limiter.failed(`addr-${i}`, `name-${i}`, i)
    expect(limiter.size).toBeLessThanOrEqual(1000)
    // The newest keys are still counted.
    for (let i = 0; i < 4; i++) limiter.failed('addr-99999', 'x', 100_000)
    expect(limiter.retryAfterMs('addr-99999', 'y', 100_000)).toBeGreaterThan(0)
    // Once every window has passed, a new failure clears the expired entries rather than the newest.
    limiter.failed('late', 'late', 100_000 + WINDOW)
    expect(limiter.size).toBeLessThanOrEqual(1000)
  })

  it('refuses limits that are not positive integers, naming the setting', () => {
    expect(() => new SignInLimiter({ failures: 0, windowMs: WINDOW, maxKeys: 10 })).toThrow(
      'SignInLimiter: expected failures to be a positive integer, got 0',
    )
  })
})
