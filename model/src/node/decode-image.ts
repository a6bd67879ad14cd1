import jpeg from 'jpeg-js'
import { PNG } from 'pngjs'
import type { Pixels } from '../pixels.ts'
import { decodeDicom } from './dicom/decode-dicom.ts'
import { isDicom } from './dicom/is-dicom.ts'
import { ImageError } from './image-error.ts'

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
const JPEG_MAGIC = [0xff, 0xd8, 0xff]

/**
 * Decodes a PNG, JPEG or DICOM Part 10 file, recognised by its first bytes rather than its name
 * (exports from hospital systems are often misnamed or have no extension). PNGs of any colour
 * type and depth come out 8-bit: gray (with or without alpha) as 1 channel, colour as 3, colour
 * with transparency as 4; DICOM as docs/dicom.md says (gray 1 channel, colour 3). Async because
 * some DICOM codecs are WebAssembly, instantiated on first use.
 */
export async function decodeImage(bytes: Uint8Array, name: string): Promise<Pixels> {
  if (startsWith(bytes, PNG_MAGIC)) return decodePng(bytes, name)
  if (startsWith(bytes, JPEG_MAGIC)) return decodeJpeg(bytes, name)
  if (isDicom(bytes)) return decodeDicom(bytes, name)
  throw new ImageError(
    name,
    `expected a PNG, JPEG or DICOM image, but the file starts with ${describeStart(bytes)}${bytes.length > 0 && bytes.length < 132 ? ` and is ${bytes.length} bytes long` : ''}`,
  )
}

function decodePng(bytes: Uint8Array, name: string): Pixels {
  let png: { width: number; height: number; data: Uint8Array; color?: boolean; alpha?: boolean }
  try {
    // pngjs normalises every colour type, palette and 16-bit depth to 8-bit RGBA.
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
  } catch (error) {
    throw new ImageError(name, `looks like a PNG but cannot be decoded (${(error as Error).message})`)
  }
  const { width, height, data } = png
  const count = width * height
  if (png.color === false) {
    const gray = new Uint8Array(count)
    for (let i = 0; i < count; i++) gray[i] = data[i * 4] as number
    return { width, height, channels: 1, data: gray }
  }
  if (png.alpha)
    return { width, height, channels: 4, data: new Uint8Array(data.buffer, data.byteOffset, count * 4) }
  const rgb = new Uint8Array(count * 3)
  for (let i = 0; i < count; i++) {
    rgb[i * 3] = data[i * 4] as number
    rgb[i * 3 + 1] = data[i * 4 + 1] as number
    rgb[i * 3 + 2] = data[i * 4 + 2] as number
  }
  return { width, height, channels: 3, data: rgb }
}

function decodeJpeg(bytes: Uint8Array, name: string): Pixels {
  try {
    const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 })
    return { width: image.width, height: image.height, channels: 3, data: new Uint8Array(image.data) }
  } catch (error) {
    throw new ImageError(name, `looks like a JPEG but cannot be decoded (${(error as Error).message})`)
  }
}

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b)
}

function describeStart(bytes: Uint8Array): string {
  if (bytes.length === 0) return 'nothing (the file is empty)'
  const head = bytes.subarray(0, 8)
  const hex = [...head].map((b) => b.toString(16).padStart(2, '0')).join(' ')
  const text = [...head].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('')
  return `the bytes ${hex} ("${text}")`
}
