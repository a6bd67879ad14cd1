import { PNG } from 'pngjs'

/**
 * Encodes one 8-bit image, row-major with interleaved channels, as a PNG: grayscale (colour type 0)
 * for one channel, truecolour (colour type 2) for three, so the file holds exactly the dataset's bytes.
 */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 1 | 3): Buffer {
  if (pixels.length !== width * height * channels)
    throw new RangeError(`encodePng: expected ${width}×${height}×${channels} bytes, got ${pixels.length}`)
  const colorType = channels === 1 ? 0 : 2
  const png = new PNG({
    width,
    height,
    colorType,
    inputColorType: colorType,
    inputHasAlpha: false,
    bitDepth: 8,
  })
  png.data = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength)
  return PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: false, bitDepth: 8 })
}
