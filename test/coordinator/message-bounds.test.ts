import {
  boundOf,
  connectionLimits,
  DEFAULT_CONNECTION_LIMITS,
  fullBucket,
  largestBound,
  messageBounds,
  spend,
} from '@fedtune/coordinator'
import {
  evaluationCountsLength,
  MAX_CORRECTION_WORDS,
  MAX_NEIGHBOURHOOD,
  PUBLIC_KEY_BYTES,
  REVEALED_RECORD_BYTES,
  SECRET_BYTES,
  SHARE_CIPHERTEXT_BYTES,
  SHARE_RECORD_BYTES,
  SIGNATURE_BYTES,
  secureVectorLength,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

// A 1280 → 256 → 2 head (328,450 parameters) in a secure task with neighbourhoods of 41.
const shape = { paramCount: 328_450, classes: 2, secure: true, neighbours: 41 }
const HEADER = 1024
const ENTRY = 256

describe('messageBounds: what each message can legitimately carry', () => {
  const bounds = messageBounds(shape)

  it('hello: two keys (identity 32 bytes, proof 64) and its small fields', () => {
    expect(bounds.hello).toEqual({
      attachments: 2,
      bytes: HEADER + 2 * ENTRY + PUBLIC_KEY_BYTES + SIGNATURE_BYTES,
    })
  })

  it('update: one float32 delta of the head, and its evaluation counts as JSON numbers of up to 12 characters', () => {
    expect(bounds.update).toEqual({
      attachments: 1,
      bytes: HEADER + 2 * ENTRY + 328_450 * 4 + evaluationCountsLength(2) * 12,
    })
  })

  it('share-keys: k − 1 records of an id and a sealed share in one field; unmask: k records of an id, a kind and a share', () => {
    expect(SHARE_RECORD_BYTES).toBe(16 + SHARE_CIPHERTEXT_BYTES)
    expect(REVEALED_RECORD_BYTES).toBe(16 + 1 + SECRET_BYTES)
    expect(bounds.secagg?.['share-keys']).toEqual({ attachments: 1, bytes: HEADER + 40 * SHARE_RECORD_BYTES })
    // 328,453 words is past MAX_CORRECTION_WORDS: this task's unmask answers carry no correction
    expect(bounds.secagg?.unmask).toEqual({ attachments: 1, bytes: HEADER + 41 * REVEALED_RECORD_BYTES })
  })

  it('unmask, for a head short enough to correct dropouts (1280 → 10): also a correction of secureVectorLength words', () => {
    const small = messageBounds({ ...shape, paramCount: 12_810, classes: 10 })
    expect(secureVectorLength(12_810, 10)).toBeLessThanOrEqual(MAX_CORRECTION_WORDS)
    expect(small.secagg?.unmask).toEqual({
      attachments: 2,
      bytes: HEADER + 41 * REVEALED_RECORD_BYTES + secureVectorLength(12_810, 10) * 4,
    })
    // the shortest vector decides whether a correction may come (a private task's: params + 1 words)
    const edge = messageBounds({ ...shape, paramCount: MAX_CORRECTION_WORDS - 1, classes: 2 })
    expect(edge.secagg?.unmask.attachments).toBe(2)
    expect(messageBounds({ ...shape, paramCount: MAX_CORRECTION_WORDS, classes: 2 }).secagg?.unmask).toEqual({
      attachments: 1,
      bytes: HEADER + 41 * REVEALED_RECORD_BYTES,
    })
  })

  it('masked-input: one vector of secureVectorLength words; advertise: two public keys and a signature', () => {
    expect(bounds.secagg?.['masked-input']).toEqual({
      attachments: 1,
      bytes: HEADER + secureVectorLength(328_450, 2) * 4,
    })
    expect(bounds.secagg?.advertise).toEqual({ attachments: 3, bytes: HEADER + 2 * 32 + 64 })
  })

  it('a complaint (a 32-byte field and a 64-byte signature) fits in any secure task', () => {
    const complaint = bounds.secagg?.complaint
    expect(complaint?.attachments).toBeGreaterThanOrEqual(2)
    expect(complaint?.bytes).toBeGreaterThanOrEqual(HEADER + 32 + 64)
  })

  it('anything else carries no attachment and one header’s worth of text', () => {
    expect(bounds.other).toEqual({ attachments: 0, bytes: HEADER })
  })

  it('without k, the largest neighbourhood bounds the secure stages; a plaintext task has no secagg bounds', () => {
    expect(messageBounds({ ...shape, neighbours: undefined }).secagg?.unmask.bytes).toBe(
      HEADER + MAX_NEIGHBOURHOOD * REVEALED_RECORD_BYTES,
    )
    expect(messageBounds({ ...shape, secure: false }).secagg).toBeNull()
  })

  it('before hello only hello has its own bound; after it each event and secagg stage has its own', () => {
    expect(boundOf(bounds, false, 'hello', undefined)).toBe(bounds.hello)
    expect(boundOf(bounds, false, 'update', undefined)).toBe(bounds.other)
    expect(boundOf(bounds, false, 'secagg', 'masked-input')).toBe(bounds.other)
    expect(boundOf(bounds, true, 'update', undefined)).toBe(bounds.update)
    expect(boundOf(bounds, true, 'secagg', 'unmask')).toBe(bounds.secagg?.unmask)
    expect(boundOf(bounds, true, 'secagg', 'toString')).toBe(bounds.other)
    expect(boundOf(bounds, true, 'secagg', 7)).toBe(bounds.other)
    expect(largestBound(bounds, false)).toBe(bounds.hello)
    expect(largestBound(bounds, true)).toEqual({ attachments: 4, bytes: bounds.update.bytes })
  })
})

describe('connection limits and the token bucket', () => {
  it('defaults, overridden one by one; a limit below 1 is refused with its name', () => {
    expect(connectionLimits()).toEqual(DEFAULT_CONNECTION_LIMITS)
    expect(connectionLimits({ helloTimeoutMs: 250 }).helloTimeoutMs).toBe(250)
    expect(() => connectionLimits({ eventBurst: 0 })).toThrow(
      /eventBurst must be a positive whole number, got 0/,
    )
  })

  it('a bucket spends its burst at once, then refills at its rate', () => {
    let bucket = fullBucket(3, 0)
    for (let i = 0; i < 3; i++) bucket = spend(bucket, 0, 10, 3) ?? fullBucket(0, 0)
    expect(spend(bucket, 0, 10, 3)).toBeNull()
    expect(spend(bucket, 50, 10, 3)).toBeNull() // half a token
    expect(spend(bucket, 100, 10, 3)).toEqual({ tokens: 0, at: 100 })
    expect(spend(bucket, 10_000, 10, 3)).toEqual({ tokens: 2, at: 10_000 }) // never more than the burst
  })
})
