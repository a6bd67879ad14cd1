import { ProtocolError } from '../errors.ts'
import { idBytes, idFromBytes } from './identity.ts'

/**
 * The lists of a secure round's stage messages as fixed-size records in one binary field, since
 * `fedtune/7`: a relay of k neighbours' advertisements or sealed shares, or a participant's k
 * revealed shares, is one socket.io attachment, where a list of objects was a JSON header with a
 * placeholder per byte field and an attachment each (at n = 1000 the coordinator decoded, kept and
 * encoded ~200,000 small objects and byte arrays a round; bench/load.ts). Every record begins with
 * the 16 bytes of a participant id (identity.ts), and the records of one field come in strictly
 * ascending id order, so an id is named once and the reader can find one by bisection.
 * docs/protocol.md, "Secure-aggregation records".
 */

export const ID_BYTES = 16
/** 'self-mask' or 'mask-key' as one byte of a revealed share's record. */
const KIND_BYTE = { 'self-mask': 0, 'mask-key': 1 } as const

/** The kinds by their byte; any other byte is refused. */
export const KIND_OF_BYTE = ['self-mask', 'mask-key'] as const

export function kindByte(kind: keyof typeof KIND_BYTE): number {
  return KIND_BYTE[kind]
}

/**
 * `entries` as records of `size` bytes: each entry's id, then the bytes `fill` writes at the given
 * offset (past the id). The entries must come in ascending id order, each id once.
 */
export function writeRecords<E extends { readonly id: string }>(
  entries: readonly E[],
  size: number,
  fill: (out: Uint8Array, at: number, entry: E) => void,
): Uint8Array {
  const out = new Uint8Array(entries.length * size)
  let previous = ''
  entries.forEach((entry, i) => {
    if (entry.id <= previous)
      throw new ProtocolError(
        'malformed',
        `records: expected ids in strictly ascending order, got ${entry.id} after ${previous}`,
      )
    previous = entry.id
    out.set(idBytes(entry.id), i * size)
    fill(out, i * size + ID_BYTES, entry)
  })
  return out
}

/**
 * The count of records of `size` bytes in `bytes`, at most `max`; refuses a field that is not a
 * whole number of records (`wrong-size`) or holds more than `max` (`malformed`).
 */
export function recordCount(bytes: Uint8Array, size: number, max: number, what: string): number {
  if (bytes.byteLength % size !== 0)
    throw new ProtocolError(
      'wrong-size',
      `${what}: expected whole records of ${size} bytes, got ${bytes.byteLength} bytes`,
    )
  const count = bytes.byteLength / size
  if (count > max)
    throw new ProtocolError('malformed', `${what}: expected at most ${max} records, got ${count}`)
  return count
}

/** The ids of the records of `size` bytes, checked strictly ascending (each named once). */
export function recordIds(bytes: Uint8Array, size: number, what: string): string[] {
  const ids = idsAsSent(bytes, size)
  ids.forEach((id, i) => {
    const previous = ids[i - 1]
    if (previous !== undefined && id <= previous)
      throw new ProtocolError(
        'malformed',
        `${what}[${i}]: expected ids in strictly ascending order, got ${id} after ${previous}`,
      )
  })
  return ids
}

/** The ids of the records of `size` bytes as they come, unchecked: for saying what arrived. */
export function idsAsSent(bytes: Uint8Array, size: number): string[] {
  const ids: string[] = []
  for (let at = 0; at + ID_BYTES <= bytes.byteLength; at += size)
    ids.push(idFromBytes(bytes.subarray(at, at + ID_BYTES)))
  return ids
}

/** Whether the 16 bytes at `at` are the id `id` (32 lowercase hex digits), without building a string. */
export function idAt(bytes: Uint8Array, at: number, id: string): boolean {
  for (let i = 0; i < ID_BYTES; i++) {
    const b = bytes[at + i] as number
    if (nibble(id.charCodeAt(2 * i)) !== b >> 4 || nibble(id.charCodeAt(2 * i + 1)) !== (b & 15)) return false
  }
  return true
}

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  return -1
}

/** Where `id` is in `sorted` (ascending), or -1. */
export function indexOfSorted(sorted: readonly string[], id: string): number {
  let lo = 0
  let hi = sorted.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const x = sorted[mid] as string
    if (x === id) return mid
    if (x < id) lo = mid + 1
    else hi = mid - 1
  }
  return -1
}

/** A kind byte read back, or a refusal naming the record. */
export function kindAt(bytes: Uint8Array, at: number, what: string): (typeof KIND_OF_BYTE)[number] {
  const kind = KIND_OF_BYTE[bytes[at] as number]
  if (kind === undefined)
    throw new ProtocolError(
      'malformed',
      `${what}.kind: expected 0 (self-mask) or 1 (mask-key), got ${bytes[at]}`,
    )
  return kind
}
