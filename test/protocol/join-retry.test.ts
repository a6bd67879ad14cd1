import {
  REFUSAL_CODES,
  RETRY_MAX_MS,
  type ReceivedRefusalCode,
  refusalIsFinal,
  retryDelayMs,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

describe('which refusals are final', () => {
  it('a refusal that saying hello again cannot change is final', () => {
    const final = REFUSAL_CODES.filter((code) => refusalIsFinal(code))
    expect(final.sort()).toEqual(
      [
        'wrong-version',
        'unknown-task',
        'task-finished',
        'revoked',
        'invite-required',
        'bad-invite',
        'excluded',
        'identity-mismatch',
        'identity-in-use',
        'browsers-disabled',
        'bad-key',
        'bad-proof',
        'invalid-spec',
        'unsupported',
        'malformed',
      ].sort(),
    )
  })

  it('waiting for approval, a full task, a limit or the coordinator’s own fault are worth retrying', () => {
    const retry: ReceivedRefusalCode[] = [
      'pending-approval',
      'enrolment-full',
      'rate-limited',
      'too-many-connections',
      'hello-timeout',
      'internal',
    ]
    for (const code of retry) expect(refusalIsFinal(code)).toBe(false)
  })

  it('a code newer than this participant is worth retrying: its reason says why, and a later one may not refuse', () => {
    expect(refusalIsFinal('unknown')).toBe(false)
  })
})

describe('the backoff between retries', () => {
  it('doubles from 1 s to a 60 s cap, the jitter taking off at most half', () => {
    const longest = Array.from({ length: 10 }, (_, i) => retryDelayMs(i, () => 0))
    expect(longest).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000])
    const shortest = Array.from({ length: 8 }, (_, i) => retryDelayMs(i, () => 0.999_999))
    expect(shortest).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000])
    expect(retryDelayMs(3, () => 0.5)).toBe(6000)
  })

  it('stays within the cap for any count of retries and any random source', () => {
    for (const retries of [0, 1, 5, 6, 7, 50, 1e6, Number.MAX_SAFE_INTEGER, -3])
      for (const r of [0, 0.25, 0.75, 0.999, 1, -1, 2]) {
        const ms = retryDelayMs(retries, () => r)
        expect(ms).toBeGreaterThanOrEqual(500)
        expect(ms).toBeLessThanOrEqual(RETRY_MAX_MS)
      }
  })

  it('participants refused at the same moment come back at different moments', () => {
    let state = 1
    const random = () => {
      state = (state * 48_271) % 2_147_483_647
      return state / 2_147_483_647
    }
    const waits = new Set(Array.from({ length: 20 }, () => retryDelayMs(4, random)))
    expect(waits.size).toBeGreaterThan(15)
  })
})
