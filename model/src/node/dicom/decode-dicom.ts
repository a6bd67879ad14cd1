import type { Pixels } from '../../pixels.ts'
import { decodeFrame } from './decode-frame.ts'
import { frameBytes } from './frame-bytes.ts'
import { grayPixels } from './gray-pixels.ts'
import { parseHeader } from './parse-header.ts'
import { rgbPixels } from './rgb-pixels.ts'

/**
 * Decodes a DICOM Part 10 file to 8-bit pixels: one frame (frame-bytes.ts), gray for MONOCHROME1/2,
 * RGB for colour. Anything it cannot decode is an ImageError saying why; docs/dicom.md has the mapping.
 */
export async function decodeDicom(bytes: Uint8Array, file: string): Promise<Pixels> {
  const { image, pixelData } = parseHeader(bytes, file)
  const { samples, rgb } = await decodeFrame(frameBytes(image, pixelData, file), image, file)
  return image.samplesPerPixel === 1 ? grayPixels(samples, image, file) : rgbPixels(samples, image, rgb)
}
