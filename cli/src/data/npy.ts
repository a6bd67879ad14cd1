import { DataError } from './data-error.ts'

/** A C-order array of bytes, as MedMNIST stores its images and labels. */
export type NpyArray = {
  readonly dtype: 'uint8'
  readonly shape: readonly number[]
  readonly data: Uint8Array
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59] // "\x93NUMPY"

/**
 * Parses a `.npy` file (format versions 1.0, 2.0 and 3.0, numpy's NEP 1): magic, version, a
 * little-endian header length (2 bytes in 1.0, 4 after), then a Python dict literal with `descr`,
 * `fortran_order` and `shape`. Only uint8 is supported; that is all MedMNIST uses.
 */
export function readNpy(bytes: Uint8Array, source: string): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    const head = Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(' ')
    throw new DataError(
      'bad-npy',
      `${source}: expected the .npy magic 93 4e 55 4d 50 59, got ${head || 'no bytes'}`,
    )
  }
  const major = bytes[6] as number
  const minor = bytes[7] as number
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let headerStart: number
  let headerLength: number
  if (major === 1) {
    headerStart = 10
    headerLength = view.getUint16(8, true)
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new DataError('truncated', `${source}: .npy header cut short`)
    headerStart = 12
    headerLength = view.getUint32(8, true)
  } else
    throw new DataError(
      'bad-npy',
      `${source}: expected .npy format version 1.0, 2.0 or 3.0, got ${major}.${minor}`,
    )
  const dataStart = headerStart + headerLength
  if (dataStart > bytes.length)
    throw new DataError(
      'truncated',
      `${source}: the .npy header claims ${headerLength} bytes but only ${bytes.length - headerStart} follow`,
    )
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(
    bytes.subarray(headerStart, dataStart),
  )
  const { descr, fortranOrder, shape } = parseHeader(header, source)
  if (!/^[|<>=]u1$/.test(descr))
    throw new DataError('unsupported-dtype', `${source}: expected dtype uint8 ('|u1'), got '${descr}'`)
  if (fortranOrder && shape.length > 1)
    throw new DataError(
      'bad-npy',
      `${source}: expected C-order data (fortran_order False), got fortran_order True; save with np.ascontiguousarray`,
    )
  const count = shape.reduce((a, b) => a * b, 1)
  const available = bytes.length - dataStart
  if (available !== count)
    throw new DataError(
      available < count ? 'truncated' : 'bad-npy',
      `${source}: shape (${shape.join(', ')}) needs ${count} bytes of uint8 data, got ${available}`,
    )
  return { dtype: 'uint8', shape, data: bytes.subarray(dataStart) }
}

function parseHeader(
  header: string,
  source: string,
): { descr: string; fortranOrder: boolean; shape: number[] } {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header)?.[1]
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1]
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1]
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw new DataError(
      'bad-npy',
      `${source}: expected a header dict with 'descr', 'fortran_order' and 'shape', got ${JSON.stringify(header.trim().slice(0, 120))}`,
    )
  const parts = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  const shape = parts.map((p) => {
    // numpy may write Python 2 longs ("4708L") in old files.
    const n = Number(p.replace(/L$/, ''))
    if (!Number.isSafeInteger(n) || n < 0)
      throw new DataError(
        'bad-npy',
        `${source}: expected non-negative integer dimensions, got shape (${shapeText})`,
      )
    return n
  })
  return { descr, fortranOrder: fortran === 'True', shape }
}
