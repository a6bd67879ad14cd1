import { crc32 } from 'node:zlib'

/**
 * A zip archive of `files`, stored without compression (method 0): model weights barely compress,
 * and a stored archive is a few headers around the bytes. Plain zip (no zip64): refused past 4 GiB or
 * 65535 entries. Layout per APPNOTE.TXT §4.3: local headers with their data, the central directory,
 * the end record; timestamps are left at the DOS epoch so the same files give the same bytes.
 */
export function storedZip(
  files: readonly { readonly name: string; readonly bytes: Uint8Array }[],
): Uint8Array {
  if (files.length > 0xffff) throw new Error(`storedZip: at most 65535 files, got ${files.length}`)
  const encoder = new TextEncoder()
  const entries = files.map((f) => ({ name: encoder.encode(f.name), bytes: f.bytes, crc: crc32(f.bytes) }))
  const localSize = entries.reduce((n, e) => n + 30 + e.name.length + e.bytes.length, 0)
  const centralSize = entries.reduce((n, e) => n + 46 + e.name.length, 0)
  const total = localSize + centralSize + 22
  if (total > 0xffffffff) throw new Error(`storedZip: ${total} bytes is past plain zip's 4 GiB`)
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  const offsets: number[] = []
  let at = 0
  for (const e of entries) {
    offsets.push(at)
    view.setUint32(at, 0x04034b50, true)
    view.setUint16(at + 4, 20, true) // version needed: 2.0
    view.setUint16(at + 6, 0x0800, true) // bit 11: names are UTF-8
    view.setUint16(at + 8, 0, true) // stored
    view.setUint16(at + 12, 0x21, true) // DOS date 1980-01-01
    view.setUint32(at + 14, e.crc, true)
    view.setUint32(at + 18, e.bytes.length, true)
    view.setUint32(at + 22, e.bytes.length, true)
    view.setUint16(at + 26, e.name.length, true)
    out.set(e.name, at + 30)
    out.set(e.bytes, at + 30 + e.name.length)
    at += 30 + e.name.length + e.bytes.length
  }
  const directory = at
  for (const [i, e] of entries.entries()) {
    view.setUint32(at, 0x02014b50, true)
    view.setUint16(at + 4, 20, true)
    view.setUint16(at + 6, 20, true)
    view.setUint16(at + 8, 0x0800, true)
    view.setUint16(at + 10, 0, true)
    view.setUint16(at + 14, 0x21, true)
    view.setUint32(at + 16, e.crc, true)
    view.setUint32(at + 20, e.bytes.length, true)
    view.setUint32(at + 24, e.bytes.length, true)
    view.setUint16(at + 28, e.name.length, true)
    view.setUint32(at + 42, offsets[i] as number, true)
    out.set(e.name, at + 46)
    at += 46 + e.name.length
  }
  view.setUint32(at, 0x06054b50, true)
  view.setUint16(at + 8, entries.length, true)
  view.setUint16(at + 10, entries.length, true)
  view.setUint32(at + 12, at - directory, true)
  view.setUint32(at + 16, directory, true)
  return out
}
