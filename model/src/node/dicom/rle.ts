import { ImageError } from '../image-error.ts'
import type { DicomImage, Samples } from './dicom-image.ts'
import { storedValue } from './stored-value.ts'

/**
 * DICOM RLE (PS3.5 Annex G): a 64-byte header of 16 little-endian uint32 (the number of segments,
 * then each segment's offset), then one PackBits segment per byte plane: for each sample, its most
 * significant byte first. Returns the stored values, interleaved.
 */
export function decodeRle(bytes: Uint8Array, image: DicomImage, file: string): Samples {
  const fail = (reason: string): never => {
    throw new ImageError(file, `RLE pixel data: ${reason}`)
  }
  if (bytes.length < 64) fail(`${bytes.length} bytes, shorter than the 64-byte RLE header`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const width = image.bitsAllocated / 8
  const spp = image.samplesPerPixel
  const segments = view.getUint32(0, true)
  if (segments !== spp * width)
    fail(`${segments} segments; ${spp} sample(s) of ${image.bitsAllocated} bits need ${spp * width}`)
  const pixels = image.rows * image.columns
  const raw = new Float64Array(pixels * spp)
  const plane = new Uint8Array(pixels)
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + s * 4, true)
    const end = s + 1 < segments ? view.getUint32(8 + s * 4, true) : bytes.length
    if (start < 64 || end > bytes.length || end < start) fail(`segment ${s + 1} lies outside the data`)
    unpackBits(bytes.subarray(start, end), plane, s + 1, fail)
    const sample = Math.floor(s / width)
    const scale = 256 ** (width - 1 - (s % width))
    for (let p = 0; p < pixels; p++)
      raw[p * spp + sample] = (raw[p * spp + sample] as number) + (plane[p] as number) * scale
  }
  for (let i = 0; i < raw.length; i++) raw[i] = storedValue(raw[i] as number, image)
  return raw
}

/** PackBits (PS3.5 G.3.1): n in 0..127 copies n+1 bytes; -127..-1 repeats the next byte 1-n times; -128 is a no-op. */
function unpackBits(
  src: Uint8Array,
  out: Uint8Array,
  segment: number,
  fail: (reason: string) => never,
): void {
  let i = 0
  let o = 0
  while (o < out.length) {
    if (i >= src.length) fail(`segment ${segment} ends after ${o} of ${out.length} bytes`)
    const n = ((src[i++] as number) << 24) >> 24
    if (n >= 0) {
      if (i + n + 1 > src.length || o + n + 1 > out.length)
        fail(`segment ${segment} overruns its literal run`)
      out.set(src.subarray(i, i + n + 1), o)
      i += n + 1
      o += n + 1
    } else if (n > -128) {
      if (i >= src.length || o + 1 - n > out.length) fail(`segment ${segment} overruns its replicate run`)
      out.fill(src[i++] as number, o, o + 1 - n)
      o += 1 - n
    }
  }
}
