import { crc32, inflateRawSync } from 'node:zlib'
import { DataError } from './data-error.ts'

/**
 * Reads every file of a zip archive into memory, keyed by its name.
 *
 * Sizes and offsets come from the central directory (APPNOTE.TXT §4.3.12), not from the local
 * headers: writers that stream (general-purpose flag bit 3) leave the local sizes at zero, and
 * numpy's `force_zip64` writes 0xFFFFFFFF there. Each entry's CRC-32 and size are checked after
 * decompression, so a damaged download fails here instead of as odd pixels later.
 */
export function readZip(bytes: Uint8Array, source: string): Map<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const end = findEndOfCentralDirectory(bytes, view, source)
  const files = new Map<string, Uint8Array>()
  let at = end.directoryOffset
  for (let i = 0; i < end.entries; i++) {
    const entry = readCentralEntry(bytes, view, at, source)
    files.set(entry.name, extract(bytes, view, entry, source))
    at = entry.next
  }
  return files
}

type End = { readonly entries: number; readonly directoryOffset: number }

type CentralEntry = {
  readonly name: string
  readonly flags: number
  readonly method: number
  readonly crc: number
  readonly compressedSize: number
  readonly size: number
  readonly localOffset: number
  readonly next: number
}

const EOCD_SIGNATURE = 0x06054b50
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50
const ZIP64_EOCD_SIGNATURE = 0x06064b50
const CENTRAL_SIGNATURE = 0x02014b50
const LOCAL_SIGNATURE = 0x04034b50
const EOCD_SIZE = 22
/** The EOCD ends the file, followed only by a comment of at most 65535 bytes (APPNOTE §4.3.16). */
const MAX_COMMENT = 0xffff

function findEndOfCentralDirectory(bytes: Uint8Array, view: DataView, source: string): End {
  if (bytes.length < EOCD_SIZE)
    throw new DataError('not-a-zip', `${source}: expected a zip archive, got ${bytes.length} bytes`)
  const lowest = Math.max(0, bytes.length - EOCD_SIZE - MAX_COMMENT)
  for (let at = bytes.length - EOCD_SIZE; at >= lowest; at--) {
    if (view.getUint32(at, true) !== EOCD_SIGNATURE) continue
    const commentLength = view.getUint16(at + 20, true)
    if (at + EOCD_SIZE + commentLength !== bytes.length) continue
    let entries = view.getUint16(at + 10, true)
    let directoryOffset = view.getUint32(at + 16, true)
    if (entries === 0xffff || directoryOffset === 0xffffffff) {
      const zip64 = readZip64End(view, at, source)
      entries = zip64.entries
      directoryOffset = zip64.directoryOffset
    }
    if (directoryOffset > at)
      throw new DataError(
        'truncated',
        `${source}: the central directory should start at byte ${directoryOffset}, but the archive's end record is at byte ${at} (truncated or not a zip)`,
      )
    return { entries, directoryOffset }
  }
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')
  const looksLikeZip = view.getUint32(0, true) === LOCAL_SIGNATURE
  throw new DataError(
    looksLikeZip ? 'truncated' : 'not-a-zip',
    looksLikeZip
      ? `${source}: starts like a zip archive but has no end-of-central-directory record (truncated download?)`
      : `${source}: expected a zip archive (an .npz starts with bytes 50 4b 03 04), got bytes ${head}`,
  )
}

function readZip64End(view: DataView, eocdAt: number, source: string): End {
  const locatorAt = eocdAt - 20
  if (locatorAt < 0 || view.getUint32(locatorAt, true) !== ZIP64_LOCATOR_SIGNATURE)
    throw new DataError(
      'truncated',
      `${source}: the end record asks for zip64 but no zip64 locator precedes it`,
    )
  const recordAt = safeNumber(view.getBigUint64(locatorAt + 8, true), source)
  if (recordAt + 56 > view.byteLength || view.getUint32(recordAt, true) !== ZIP64_EOCD_SIGNATURE)
    throw new DataError('truncated', `${source}: expected a zip64 end record at byte ${recordAt}, found none`)
  return {
    entries: safeNumber(view.getBigUint64(recordAt + 32, true), source),
    directoryOffset: safeNumber(view.getBigUint64(recordAt + 48, true), source),
  }
}

function readCentralEntry(bytes: Uint8Array, view: DataView, at: number, source: string): CentralEntry {
  if (at + 46 > bytes.length || view.getUint32(at, true) !== CENTRAL_SIGNATURE)
    throw new DataError(
      'truncated',
      `${source}: expected a central directory entry at byte ${at}, found none`,
    )
  const nameLength = view.getUint16(at + 28, true)
  const extraLength = view.getUint16(at + 30, true)
  const commentLength = view.getUint16(at + 32, true)
  const next = at + 46 + nameLength + extraLength + commentLength
  if (next > bytes.length)
    throw new DataError('truncated', `${source}: the central directory entry at byte ${at} runs past the end`)
  const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength))
  let compressedSize = view.getUint32(at + 20, true)
  let size = view.getUint32(at + 24, true)
  let localOffset = view.getUint32(at + 42, true)
  // Zip64 extended information (APPNOTE §4.5.3): only the fields saturated at 0xFFFFFFFF appear, in this order.
  const extra = at + 46 + nameLength
  for (let x = extra; x + 4 <= extra + extraLength; ) {
    const id = view.getUint16(x, true)
    const length = view.getUint16(x + 2, true)
    if (id === 0x0001) {
      let field = x + 4
      const take = () => {
        const value = safeNumber(view.getBigUint64(field, true), source)
        field += 8
        return value
      }
      if (size === 0xffffffff) size = take()
      if (compressedSize === 0xffffffff) compressedSize = take()
      if (localOffset === 0xffffffff) localOffset = take()
    }
    x += 4 + length
  }
  return {
    name,
    flags: view.getUint16(at + 8, true),
    method: view.getUint16(at + 10, true),
    crc: view.getUint32(at + 16, true),
    compressedSize,
    size,
    localOffset,
    next,
  }
}

function extract(bytes: Uint8Array, view: DataView, entry: CentralEntry, source: string): Uint8Array {
  const where = `${source}: entry ${entry.name}`
  if (entry.flags & 0x1)
    throw new DataError('unsupported-zip', `${where} is encrypted; expected a plain entry`)
  const at = entry.localOffset
  if (at + 30 > bytes.length || view.getUint32(at, true) !== LOCAL_SIGNATURE)
    throw new DataError('truncated', `${where}: expected a local file header at byte ${at}, found none`)
  // The local header's name and extra lengths may differ from the central copy; only they locate the data.
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true)
  const stop = start + entry.compressedSize
  if (stop > bytes.length)
    throw new DataError(
      'truncated',
      `${where}: expected ${entry.compressedSize} compressed bytes from byte ${start}, but the archive ends at byte ${bytes.length}`,
    )
  const stored = bytes.subarray(start, stop)
  let data: Uint8Array
  if (entry.method === 0) data = stored
  else if (entry.method === 8) {
    try {
      data = inflateRawSync(stored)
    } catch (cause) {
      throw new DataError(
        'corrupt',
        `${where}: expected deflate data, but inflating failed (${String(cause)})`,
      )
    }
  } else
    throw new DataError(
      'unsupported-zip',
      `${where}: expected compression method 0 (stored) or 8 (deflate), got ${entry.method}`,
    )
  if (data.length !== entry.size)
    throw new DataError(
      'truncated',
      `${where}: expected ${entry.size} bytes after decompression, got ${data.length}`,
    )
  const actual = crc32(data)
  if (actual !== entry.crc)
    throw new DataError(
      'corrupt',
      `${where}: CRC-32 mismatch, expected ${hex(entry.crc)} from the central directory, computed ${hex(actual)} (corrupted file?)`,
    )
  return data
}

function safeNumber(value: bigint, source: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER))
    throw new DataError(
      'unsupported-zip',
      `${source}: a zip64 size or offset of ${value} is too large to read`,
    )
  return Number(value)
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`
}
