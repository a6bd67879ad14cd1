import nacl from 'tweetnacl'
import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'

/** SHA-512's block size in bytes (FIPS 180-4 §1): HMAC pads its key to one block. */
const BLOCK = 128
/** SHA-512's output size in bytes. */
const HASH = 64

/**
 * HMAC-SHA-512 (RFC 2104; the SHA-512 instance of RFC 4231), on tweetnacl's SHA-512 so it runs
 * unchanged in the browser. The key derivation of SecAgg (HKDF) and the ring order of the
 * neighbourhoods are built on it.
 */
export function hmacSha512(key: Uint8Array, message: Uint8Array): Uint8Array {
  // RFC 2104 §2: a key longer than a block is hashed first; a shorter one is zero-padded.
  const k = key.length > BLOCK ? nacl.hash(key) : key
  const inner = new Uint8Array(BLOCK + message.length)
  const outer = new Uint8Array(BLOCK + HASH)
  inner.fill(0x36, 0, BLOCK)
  outer.fill(0x5c, 0, BLOCK)
  for (let i = 0; i < k.length; i++) {
    inner[i] = (inner[i] as number) ^ (k[i] as number)
    outer[i] = (outer[i] as number) ^ (k[i] as number)
  }
  inner.set(message, BLOCK)
  outer.set(nacl.hash(inner), BLOCK)
  return nacl.hash(outer)
}

/**
 * HKDF-SHA-512 (RFC 5869): extract a pseudorandom key from `ikm` under `salt`, then expand it to
 * `length` bytes bound to `info`. SecAgg turns every X25519 shared secret and seed into a key this
 * way, with `info` naming the task, round, stage and parties, so no key is ever used in two roles.
 * `hmac` is a backend's HMAC-SHA-512 (`SecaggCrypto.hmacSha512`; native in Node, 5× this file's).
 */
export function hkdfSha512(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
  hmac: (key: Uint8Array, message: Uint8Array) => Uint8Array = hmacSha512,
): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH)
    throw new ProtocolError(
      'invalid-spec',
      `hkdfSha512: expected a length from 0 to ${255 * HASH} bytes (RFC 5869 §2.3), got ${describe(length)}`,
    )
  // RFC 5869 §2.2: an absent salt is HashLen zeros, which HMAC's zero-padding makes the same as empty.
  const prk = hmac(salt, ikm)
  const okm = new Uint8Array(length)
  const block = new Uint8Array(HASH + info.length + 1)
  block.set(info, HASH)
  let previous: Uint8Array = new Uint8Array(0)
  for (let i = 1, filled = 0; filled < length; i++) {
    // T(i) = HMAC(PRK, T(i−1) | info | i), with T(0) empty.
    const input = i === 1 ? block.subarray(HASH) : block
    if (i > 1) block.set(previous, 0)
    block[block.length - 1] = i
    previous = hmac(prk, input)
    okm.set(previous.subarray(0, Math.min(HASH, length - filled)), filled)
    filled += HASH
  }
  return okm
}

/** The bytes of `parts` one after another, for building transcripts and HMAC inputs. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/**
 * The UTF-8 encoding of `s` (RFC 3629), as TextEncoder gives it — which is a DOM/Node global and so
 * not available to protocol/src. Lone surrogates become U+FFFD, as TextEncoder does, so the same
 * string always hashes to the same bytes everywhere.
 */
export function utf8(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 3)
  let n = 0
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00)
        i++
      } else c = 0xfffd
    }
    if (c < 0x80) out[n++] = c
    else if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6)
      out[n++] = 0x80 | (c & 0x3f)
    } else if (c < 0x10000) {
      out[n++] = 0xe0 | (c >> 12)
      out[n++] = 0x80 | ((c >> 6) & 0x3f)
      out[n++] = 0x80 | (c & 0x3f)
    } else {
      out[n++] = 0xf0 | (c >> 18)
      out[n++] = 0x80 | ((c >> 12) & 0x3f)
      out[n++] = 0x80 | ((c >> 6) & 0x3f)
      out[n++] = 0x80 | (c & 0x3f)
    }
  }
  return out.slice(0, n)
}
