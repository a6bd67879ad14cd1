import { crc32, deflateRawSync } from 'node:zlib'

/** An entry for a hand-built zip: stored (method 0) or deflated (method 8). */
export type FixtureEntry = { readonly name: string; readonly data: Uint8Array; readonly method: 0 | 8 }

/**
 * A minimal zip writer for tests (APPNOTE.TXT §4.3): local headers, data, central directory, end
 * record. Kept independent of the reader under test so the two cannot share a mistake.
 */
export function buildZip(entries: readonly FixtureEntry[]): Uint8Array {
  const chunks: Uint8Array[] = []
  const central: Uint8Array[] = []
  let offset = 0
  for (const entry of entries) {
    const name = new TextEncoder().encode(entry.name)
    const body = entry.method === 8 ? deflateRawSync(entry.data) : entry.data
    const crc = crc32(entry.data)
    const local = new DataView(new ArrayBuffer(30))
    local.setUint32(0, 0x04034b50, true)
    local.setUint16(4, 20, true)
    local.setUint16(8, entry.method, true)
    local.setUint32(14, crc, true)
    local.setUint32(18, body.length, true)
    local.setUint32(22, entry.data.length, true)
    local.setUint16(26, name.length, true)
    const header = new DataView(new ArrayBuffer(46))
    header.setUint32(0, 0x02014b50, true)
    header.setUint16(4, 20, true)
    header.setUint16(6, 20, true)
    header.setUint16(10, entry.method, true)
    header.setUint32(16, crc, true)
    header.setUint32(20, body.length, true)
    header.setUint32(24, entry.data.length, true)
    header.setUint16(28, name.length, true)
    header.setUint32(42, offset, true)
    chunks.push(new Uint8Array(local.buffer), name, body)
    central.push(new Uint8Array(header.buffer), name)
    offset += 30 + name.length + body.length
  }
  const centralSize = central.reduce((n, c) => n + c.length, 0)
  const end = new DataView(new ArrayBuffer(22))
  end.setUint32(0, 0x06054b50, true)
  end.setUint16(8, entries.length, true)
  end.setUint16(10, entries.length, true)
  end.setUint32(12, centralSize, true)
  end.setUint32(16, offset, true)
  return concat([...chunks, ...central, new Uint8Array(end.buffer)])
}

/** A `.npy` v1.0 file with the given header fields and raw bytes, as numpy would write it. */
export function buildNpy(
  shape: readonly number[],
  data: Uint8Array,
  options: { readonly descr?: string; readonly fortranOrder?: boolean } = {},
): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ')
  let header = `{'descr': '${options.descr ?? '|u1'}', 'fortran_order': ${options.fortranOrder ? 'True' : 'False'}, 'shape': (${dims}), }`
  // numpy pads the header with spaces and a newline so the data starts on a 64-byte boundary.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64
  header = `${header.padEnd(total - 10 - 1)}\n`
  const prefix = new Uint8Array(10)
  prefix.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0])
  new DataView(prefix.buffer).setUint16(8, header.length, true)
  return concat([prefix, new TextEncoder().encode(header), data])
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}
