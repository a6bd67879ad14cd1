import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { addInto, subtractFrom } from './fixed-point.ts'
import type { Mask } from './mask.ts'
import { littleEndianWords } from './words.ts'

/**
 * A volunteer's masks through WebCrypto AES-128-CTR, in segments. CTR mode lets a keystream start
 * at any block (NIST SP 800-38A §6.5: block j is E_K(counter + j)), so each mask is asked for in
 * segments of `segmentWords` words, several in flight across masks, and every segment is added
 * into the vector as it arrives. In Chromium, 1.3 MB masks asked for whole (one encrypt each) were
 * applied at 580–690 MB/s, in 256 KiB segments with 8 in flight at 1.1–1.2 GB/s, the addition
 * included (bench:browser): smaller buffers stay in cache on their way to the browser's crypto
 * thread and back. No model-sized keystream is ever held.
 */

/** The subset of WebCrypto (W3C Web Cryptography API) the keystream needs; protocol/src has no DOM lib. */
export type AesCtrSubtle = {
  importKey(
    format: 'raw',
    keyData: Uint8Array,
    algorithm: 'AES-CTR',
    extractable: false,
    usages: readonly ['encrypt'],
  ): Promise<unknown>
  encrypt(
    algorithm: { readonly name: 'AES-CTR'; readonly counter: Uint8Array; readonly length: number },
    key: unknown,
    data: Uint8Array,
  ): Promise<ArrayBuffer>
}

/** Words per encrypt call: 256 KiB, a whole number of 4-word AES blocks. */
export const SEGMENT_WORDS = 65_536

/** Encrypt calls kept in flight: the browser runs them off the page's thread. */
export const SEGMENTS_IN_FLIGHT = 8

export type SegmentOptions = {
  /** Words per encrypt call, a positive multiple of 4 (one AES block); default {@link SEGMENT_WORDS}. */
  readonly segmentWords?: number
  /** Encrypt calls in flight at once, ≥ 1; default {@link SEGMENTS_IN_FLIGHT}. */
  readonly inFlight?: number
}

/**
 * acc ← acc + Σ sign · keystream(key) mod 2^32 over `masks` (checked by the caller), in place; the
 * keystream is AES-128-CTR from counter block 0, read as little-endian words, as every backend's.
 * Addition mod 2^32 commutes, so the order in which segments land does not change a word. Should
 * an encrypt fail, every call in flight is awaited before the error is thrown: nothing touches
 * `acc` after this returns or throws.
 */
export async function webCryptoApplyMasks(
  subtle: AesCtrSubtle,
  acc: Uint32Array,
  masks: readonly Mask[],
  options: SegmentOptions = {},
): Promise<void> {
  const { segmentWords = SEGMENT_WORDS, inFlight = SEGMENTS_IN_FLIGHT } = options
  if (!(Number.isInteger(segmentWords) && segmentWords > 0 && segmentWords % 4 === 0))
    throw new ProtocolError(
      'invalid-spec',
      `webCryptoApplyMasks: expected segmentWords, a positive multiple of 4 (one AES block), got ${describe(segmentWords)}`,
    )
  if (!(Number.isInteger(inFlight) && inFlight >= 1))
    throw new ProtocolError(
      'invalid-spec',
      `webCryptoApplyMasks: expected inFlight, an integer ≥ 1, got ${describe(inFlight)}`,
    )
  if (masks.length === 0 || acc.length === 0) return
  // Each key is imported when its first segment is asked for, so imports overlap encrypts.
  const keys: Promise<unknown>[] = []
  const segments = Math.ceil(acc.length / segmentWords)
  const counters = Array.from({ length: segments }, (_, s) => sharedCounterBlock((s * segmentWords) / 4))
  const total = masks.length * segments
  let next = 0
  let failed = false
  const zeros = zeroBytes(Math.min(segmentWords, acc.length) * 4)
  const run = async () => {
    try {
      while (!failed && next < total) {
        const item = next++
        const m = Math.floor(item / segments)
        const s = item % segments
        const lo = s * segmentWords
        const hi = Math.min(acc.length, lo + segmentWords)
        let key = keys[m]
        if (key === undefined) {
          key = subtle.importKey('raw', (masks[m] as Mask).key, 'AES-CTR', false, ['encrypt'])
          keys[m] = key
        }
        const stream = await subtle.encrypt(
          { name: 'AES-CTR', counter: counters[s] as Uint8Array, length: 128 },
          await key,
          zeros.subarray(0, (hi - lo) * 4),
        )
        if (failed) return
        const words = littleEndianWords(new Uint8Array(stream))
        const range = segments === 1 ? acc : acc.subarray(lo, hi)
        if (masks[m]?.sign === 1) addInto(range, words)
        else subtractFrom(range, words)
      }
    } catch (error) {
      failed = true
      throw error
    }
  }
  const settled = await Promise.allSettled(Array.from({ length: Math.min(inFlight, total) }, run))
  const rejected = settled.find((s) => s.status === 'rejected')
  if (rejected !== undefined) throw rejected.reason
}

/**
 * The 16-byte counter block of AES block `block`: the 128-bit big-endian counter (NIST SP 800-38A
 * §B.1, m = 128) that the keystream from block 0 has reached there.
 */
export function counterBlock(block: number): Uint8Array {
  if (!(Number.isSafeInteger(block) && block >= 0))
    throw new ProtocolError(
      'invalid-spec',
      `counterBlock: expected a block index ≥ 0, got ${describe(block)}`,
    )
  const out = new Uint8Array(16)
  let rest = block
  for (let i = 15; i >= 8 && rest > 0; i--) {
    out[i] = rest % 256
    rest = Math.floor(rest / 256)
  }
  return out
}

/**
 * {@link counterBlock}, one object per block for the life of the page: Chromium's encrypt ran 10–15 %
 * slower at 51 kB when every call brought a fresh counter (bench:browser). Encrypt copies the
 * counter, which is never written, so every call may share it. A few per model: at most
 * MAX_SHARED_COUNTERS are kept, beyond that they are made fresh.
 */
const sharedCounters = new Map<number, Uint8Array>()
const MAX_SHARED_COUNTERS = 1024
function sharedCounterBlock(block: number): Uint8Array {
  const found = sharedCounters.get(block)
  if (found !== undefined) return found
  const made = counterBlock(block)
  if (sharedCounters.size < MAX_SHARED_COUNTERS) sharedCounters.set(block, made)
  return made
}

/**
 * `byteLength` zero bytes, from one buffer that only grows and is never written: encrypt copies its
 * input when called, so concurrent calls may share it. A fresh buffer per call made Chromium's
 * masks 1.3–1.6× slower at 51 kB (bench:browser).
 */
let zeroBuffer = new Uint8Array(0)
export function zeroBytes(byteLength: number): Uint8Array {
  if (zeroBuffer.length < byteLength) zeroBuffer = new Uint8Array(byteLength)
  return zeroBuffer.subarray(0, byteLength)
}
