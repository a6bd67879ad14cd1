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

/** The sample precision in a JPEG's start-of-frame header (ISO 10918-1 B.2.2), or undefined. */
function jpegPrecision(bytes: Uint8Array): number | undefined {
  let i = 2
  while (i + 4 < bytes.length) {
    if (bytes[i] !== 0xff) return undefined
    const marker = bytes[i + 1] as number
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return bytes[i + 4]
    i += 2 + (((bytes[i + 2] as number) << 8) | (bytes[i + 3] as number))
  }
  return undefined
}

/**
 * JPEG baseline and 8-bit extended through jpeg-js. The YCbCr → RGB conversion is the codec's:
 * done unless the header says the components are already RGB (PS3.5 §8.2.1 allows both).
 */
export function decodeJpegBaseline(bytes: Uint8Array, image: DicomImage, file: string): CodecFrame {
  const precision = jpegPrecision(bytes)
  if (precision !== undefined && precision !== 8)
    throw new ImageError(
      file,
      `${precision}-bit lossy JPEG (extended process 4) is not supported; only 8-bit`,
    )
  let decoded: { width: number; height: number; data: Uint8Array }
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      colorTransform: image.photometric !== 'RGB',
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
