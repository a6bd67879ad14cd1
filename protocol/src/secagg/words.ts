import { ProtocolError } from '../errors.ts'

/** Whether this platform stores typed-array words little-endian (all current browsers and Node hosts). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/**
 * `bytes` read as little-endian uint32 words, whatever the platform's byte order, so a mask is the same
 * on every participant. On a little-endian host with an aligned buffer this is a view (no copy) —
 * the keystream path's case; unaligned, one copy; on a big-endian host the words are assembled one by one.
 */
export function littleEndianWords(bytes: Uint8Array): Uint32Array {
  if (bytes.length % 4 !== 0)
    throw new ProtocolError(
      'wrong-size',
      `littleEndianWords: expected a multiple of 4 bytes, got ${bytes.length}`,
    )
  const words = bytes.length / 4
  if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0)
    return new Uint32Array(bytes.buffer, bytes.byteOffset, words)
  // Unaligned (a slice of a socket's buffer, say): one native copy to an aligned buffer, not a word loop.
  if (LITTLE_ENDIAN) return new Uint32Array(new Uint8Array(bytes).buffer, 0, words)
  const out = new Uint32Array(words)
  for (let i = 0, j = 0; i < words; i++, j += 4)
    out[i] =
      ((bytes[j] as number) |
        ((bytes[j + 1] as number) << 8) |
        ((bytes[j + 2] as number) << 16) |
        ((bytes[j + 3] as number) << 24)) >>>
      0
  return out
}
