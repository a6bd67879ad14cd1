import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { wordKernel } from './word-simd.ts'
import { littleEndianWords } from './words.ts'

/**
 * `v` scaled down, if needed, to L2 norm at most `bound`, and the norm it had. Clipping bounds each
 * participant's influence on the sum, which is what lets a fixed-point ring of 32 bits hold the sum
 * without wrapping (and is the sensitivity bound differential privacy would need).
 */
export function clipL2(v: Float32Array, bound: number): { clipped: Float32Array; norm: number } {
  if (!(Number.isFinite(bound) && bound > 0))
    throw new ProtocolError(
      'invalid-spec',
      `clipL2: expected a positive finite bound, got ${describe(bound)}`,
    )
  let squares = 0
  for (let i = 0; i < v.length; i++) squares += (v[i] as number) * (v[i] as number)
  const norm = Math.sqrt(squares)
  if (!Number.isFinite(norm))
    throw new ProtocolError(
      'not-finite',
      `clipL2: expected finite values, got a vector whose norm is ${norm}`,
    )
  const clipped = new Float32Array(v)
  if (norm > bound) {
    const factor = bound / norm
    for (let i = 0; i < clipped.length; i++) clipped[i] = (clipped[i] as number) * factor
  }
  return { clipped, norm }
}

/**
 * The fixed-point encoding of one federation: updates are clipped to `clipNorm`, multiplied by their
 * example count (≤ `maxExamples`) and by `scale`, and rounded to integers mod 2^32.
 */
export type FixedPoint = { readonly clipNorm: number; readonly scale: number; readonly maxExamples: number }

/** 2^31: the signed 32-bit range the whole sum has to stay within. */
const HALF_RING = 2 ** 31

/**
 * The finest fixed-point scale at which the masked sum cannot wrap: the largest power of two with
 * participants · maxExamples · clipNorm · scale < 2^31. Each coordinate of a clipped vector is at most
 * clipNorm in size, so every participant's integer is below maxExamples · clipNorm · scale and their
 * signed sum stays inside int32 — the sum decoded mod 2^32 is then the true sum. A power of two keeps
 * the division at decode exact. The example counts summed alongside must fit too
 * (participants · maxExamples < 2^32).
 */
export function fixedPointFor(spec: {
  readonly participants: number
  readonly maxExamples: number
  readonly clipNorm: number
}): FixedPoint {
  const { participants, maxExamples, clipNorm } = spec
  if (!Number.isInteger(participants) || participants < 1)
    throw new ProtocolError(
      'invalid-spec',
      `fixedPointFor: expected a positive integer participant count, got ${describe(participants)}`,
    )
  if (!Number.isInteger(maxExamples) || maxExamples < 1)
    throw new ProtocolError(
      'invalid-spec',
      `fixedPointFor: expected a positive integer maxExamples, got ${describe(maxExamples)}`,
    )
  if (!(Number.isFinite(clipNorm) && clipNorm > 0))
    throw new ProtocolError(
      'invalid-spec',
      `fixedPointFor: expected a positive finite clipNorm, got ${describe(clipNorm)}`,
    )
  if (participants * maxExamples >= 2 ** 32)
    throw new ProtocolError(
      'invalid-spec',
      `fixedPointFor: ${participants} participants × ${maxExamples} examples = ${participants * maxExamples} does not fit the 32-bit example count`,
    )
  const bound = participants * maxExamples * clipNorm
  // A clipNorm so small (5e-324) that HALF_RING / bound overflows would make the scale infinite, and
  // the loops below never end.
  if (!Number.isFinite(HALF_RING / bound))
    throw new ProtocolError(
      'invalid-spec',
      `fixedPointFor: clipNorm ${describe(clipNorm)} is too small for a fixed point: no finite scale fits it`,
    )
  // Start from log2 and correct for its rounding: the result is exact because scale is a power of two.
  let scale = 2 ** Math.floor(Math.log2(HALF_RING / bound))
  while (bound * scale >= HALF_RING) scale /= 2
  while (bound * scale * 2 < HALF_RING) scale *= 2
  if (scale < 1)
    throw new ProtocolError(
      'invalid-spec',
      `fixedPointFor: ${participants} participants × ${maxExamples} examples × clipNorm ${clipNorm} = ${bound} leaves no integer resolution below 2^31 (scale would be ${scale}); lower one of them`,
    )
  return { clipNorm, scale, maxExamples }
}

/**
 * One participant's input to secure aggregation: [round(n·clip(Δ)_j·scale) mod 2^32 …, n, extra…].
 * Weighting by n before summing makes the revealed sum Σ n·Δ, what FedAvg needs, without revealing any
 * n alone. `extra` (e.g. per-class example counts) rides along as plain non-negative integers.
 * Rounding is half-up (Math.round). Each integer is also clamped to ±floor(maxExamples·clipNorm·scale),
 * the budget {@link fixedPointFor} reserved per participant, so float rounding in clipping can never
 * push the sum over 2^31.
 */
export function encodeWeighted(
  delta: Float32Array,
  examples: number,
  extra: readonly number[],
  fp: FixedPoint,
): Uint32Array {
  if (!Number.isInteger(examples) || examples < 1 || examples > fp.maxExamples)
    throw new ProtocolError(
      'malformed',
      `encodeWeighted: expected an integer example count from 1 to maxExamples = ${fp.maxExamples}, got ${describe(examples)}`,
    )
  for (const [i, e] of extra.entries())
    if (!Number.isInteger(e) || e < 0 || e > fp.maxExamples)
      throw new ProtocolError(
        'malformed',
        `encodeWeighted: expected extra[${i}] to be an integer from 0 to maxExamples = ${fp.maxExamples}, got ${describe(e)}`,
      )
  const { clipped } = clipL2(delta, fp.clipNorm)
  const dim = delta.length
  const out = new Uint32Array(dim + 1 + extra.length)
  const limit = Math.floor(fp.maxExamples * fp.clipNorm * fp.scale)
  const factor = examples * fp.scale
  for (let j = 0; j < dim; j++) {
    const q = Math.round((clipped[j] as number) * factor)
    // Storing a negative integer into a Uint32Array reduces it mod 2^32 (two's complement).
    out[j] = q > limit ? limit : q < -limit ? -limit : q
  }
  out[dim] = examples
  out.set(extra, dim + 1)
  return out
}

/**
 * The inverse of summing {@link encodeWeighted} vectors: Σ n·clip(Δ) in float64 (each word read as a
 * signed 32-bit integer, divided by scale), Σ n, and the summed extras.
 */
export function decodeWeightedSum(
  sum: Uint32Array,
  dim: number,
  fp: FixedPoint,
): { weightedSum: Float64Array; examples: number; extra: number[] } {
  if (!Number.isInteger(dim) || dim < 0 || sum.length < dim + 1)
    throw new ProtocolError(
      'wrong-size',
      `decodeWeightedSum: expected at least dim + 1 = ${dim + 1} words, got ${sum.length}`,
    )
  const weightedSum = new Float64Array(dim)
  for (let j = 0; j < dim; j++) weightedSum[j] = ((sum[j] as number) | 0) / fp.scale
  return { weightedSum, examples: sum[dim] as number, extra: Array.from(sum.subarray(dim + 1)) }
}

/** Below this many words the SIMD kernel's copies cost more than the scalar loop saves. */
const SIMD_MIN_WORDS = 256

/**
 * acc ← acc + v mod 2^32, in place: how masks and inputs are combined (Uint32Array stores wrap). Long
 * vectors go through WebAssembly SIMD (word-simd.ts), 5–9× the scalar loop, which gives the same words.
 */
export function addInto(acc: Uint32Array, v: Uint32Array): void {
  checkLengths(acc, v, 'addInto')
  const simd = acc.length >= SIMD_MIN_WORDS ? wordKernel() : null
  if (simd) simd.add(acc, v)
  else for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] as number) + (v[i] as number)
}

/** acc ← acc − v mod 2^32, in place: how the coordinator removes reconstructed masks. */
export function subtractFrom(acc: Uint32Array, v: Uint32Array): void {
  checkLengths(acc, v, 'subtractFrom')
  const simd = acc.length >= SIMD_MIN_WORDS ? wordKernel() : null
  if (simd) simd.sub(acc, v)
  else for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] as number) - (v[i] as number)
}

/**
 * acc ← acc + the little-endian words in `bytes` mod 2^32: a masked input as it came off the wire,
 * at whatever offset its frame put it. Through the SIMD kernel on a little-endian host, with no
 * aligned copy of the bytes first (an allocation per message that kept V8's young generation
 * collecting: it scavenges after every 32 MB of new ArrayBuffers); otherwise the words, then addInto.
 */
export function addWordsInto(acc: Uint32Array, bytes: Uint8Array): void {
  checkByteLength(acc, bytes, 'addWordsInto')
  const simd = acc.length >= SIMD_MIN_WORDS ? wordKernel() : null
  if (simd) simd.addBytes(acc, bytes)
  else addInto(acc, littleEndianWords(bytes))
}

/** acc ← acc − the little-endian words in `bytes` mod 2^32: a survivor's correction, as it came. */
export function subtractWordsFrom(acc: Uint32Array, bytes: Uint8Array): void {
  checkByteLength(acc, bytes, 'subtractWordsFrom')
  const simd = acc.length >= SIMD_MIN_WORDS ? wordKernel() : null
  if (simd) simd.subBytes(acc, bytes)
  else subtractFrom(acc, littleEndianWords(bytes))
}

function checkByteLength(acc: Uint32Array, bytes: Uint8Array, what: string): void {
  if (bytes.length !== acc.length * 4)
    throw new ProtocolError('wrong-size', `${what}: expected ${acc.length * 4} bytes, got ${bytes.length}`)
}

function checkLengths(acc: Uint32Array, v: Uint32Array, what: string): void {
  if (acc.length !== v.length)
    throw new ProtocolError('wrong-size', `${what}: expected ${acc.length} words, got ${v.length}`)
}
