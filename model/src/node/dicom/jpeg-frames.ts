import { createRequire } from 'node:module'
import jpeg from 'jpeg-js'
import { ImageError } from '../image-error.ts'
import type { DicomImage } from './dicom-image.ts'
import type { CodecFrame } from './wasm-codecs.ts'

type LosslessDecoder = {
  decode(buffer: ArrayBufferLike, offset: number, length: number, numBytes: number): Uint8Array | Uint16Array
  numComp: number
  xDim: number
  yDim: number
}
const { Decoder } = createRequire(import.meta.url)('jpeg-lossless-decoder-js') as {
  Decoder: new () => LosslessDecoder
}

/** What a JPEG's header says about its samples: precision, component ids, JFIF and Adobe markers. */
function jpegHeader(bytes: Uint8Array): { precision?: number; ids: number[]; jfif: boolean; adobe?: number } {
  const out: { precision?: number; ids: number[]; jfif: boolean; adobe?: number } = { ids: [], jfif: false }
  let i = 2
  while (i + 4 < bytes.length && bytes[i] === 0xff) {
    const marker = bytes[i + 1] as number
    const text = (from: number, n: number) => String.fromCharCode(...bytes.subarray(from, from + n))
    if (marker === 0xe0 && text(i + 4, 4) === 'JFIF') out.jfif = true
    if (marker === 0xee && text(i + 4, 5) === 'Adobe') out.adobe = bytes[i + 15] as number
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      out.precision = bytes[i + 4] as number
      const count = bytes[i + 9] as number
      for (let k = 0; k < count; k++) out.ids.push(bytes[i + 10 + 3 * k] as number)
      return out
    }
    i += 2 + (((bytes[i + 2] as number) << 8) | (bytes[i + 3] as number))
  }
  return out
}

/**
 * Whether three JPEG components are Y Cb Cr, as libjpeg decides (ITU T.872 §6.5.3): an Adobe marker
 * says so itself; a JFIF marker means YCbCr; component ids "R", "G", "B" mean RGB, ids 1, 2, 3 YCbCr.
 * Otherwise the DICOM header decides: RGB means untransformed (PS3.5 §8.2.1 allows both).
 */
function isYcbcr(header: ReturnType<typeof jpegHeader>, photometric: string): boolean {
  if (header.adobe !== undefined) return header.adobe !== 0
  if (header.jfif) return true
  const ids = header.ids.join(',')
  if (ids === '82,71,66') return false
  if (ids === '1,2,3') return true
  return photometric !== 'RGB'
}

/**
 * JPEG baseline and 8-bit extended through jpeg-js. The YCbCr → RGB conversion is the codec's,
 * done when the components are YCbCr (isYcbcr).
 */
export function decodeJpegBaseline(bytes: Uint8Array, image: DicomImage, file: string): CodecFrame {
  const header = jpegHeader(bytes)
  if (header.precision !== undefined && header.precision !== 8)
    throw new ImageError(
      file,
      `${header.precision}-bit lossy JPEG (extended process 4) is not supported; only 8-bit`,
    )
  let decoded: { width: number; height: number; data: Uint8Array }
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      colorTransform: isYcbcr(header, image.photometric),
      maxMemoryUsageInMB: 1024,
    })
  } catch (error) {
    throw new ImageError(file, `JPEG pixel data cannot be decoded (${(error as Error).message})`)
  }
  const pixels = decoded.width * decoded.height
  // jpeg-js always writes three channels; a gray frame has them equal
  const data =
    image.samplesPerPixel === 1
      ? Uint8Array.from({ length: pixels }, (_, i) => decoded.data[i * 3] as number)
      : decoded.data
  return {
    width: decoded.width,
    height: decoded.height,
    components: image.samplesPerPixel,
    bitsPerSample: 8,
    signed: false,
    interleaved: true,
    bytes: data,
  }
}

/** JPEG lossless (process 14) through jpeg-lossless-decoder-js: 2 to 16 bits, one or three components. */
export function decodeJpegLossless(bytes: Uint8Array, image: DicomImage, file: string): CodecFrame {
  const decoder = new Decoder()
  let out: Uint8Array | Uint16Array
  try {
    out = decoder.decode(bytes.buffer, bytes.byteOffset, bytes.byteLength, image.bitsAllocated <= 8 ? 1 : 2)
  } catch (error) {
    throw new ImageError(file, `JPEG lossless pixel data cannot be decoded (${(error as Error).message})`)
  }
  return {
    width: decoder.xDim,
    height: decoder.yDim,
    components: decoder.numComp,
    bitsPerSample: image.bitsAllocated <= 8 ? 8 : 16,
    signed: false,
    interleaved: true,
    bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
  }
}
