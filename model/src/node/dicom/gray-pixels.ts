import type { Pixels } from '../../pixels.ts'
import { ImageError } from '../image-error.ts'
import type { DicomImage, Samples } from './dicom-image.ts'
import { storedRange } from './stored-value.ts'

/**
 * Monochrome stored values to 8-bit gray, the DICOM grayscale pipeline (PS3.3 C.11):
 * modality rescale (slope · stored + intercept), then the first VOI LUT if the file has one, else
 * its first window through its VOI LUT function, else the stored range mapped linearly: for 8 bits
 * stored or fewer every value they can hold (the values are display levels already), for more the
 * frame's smallest to largest value (what a viewer shows by default; a 12-bit image rarely fills
 * 16 bits). Output 0..255, inverted for MONOCHROME1 (its minimum is white, PS3.3 C.7.6.3.1.2).
 */
export function grayPixels(samples: Samples, image: DicomImage, file: string): Pixels {
  const voi = voiFunction(samples, image, file)
  const data = new Uint8Array(samples.length)
  const invert = image.photometric === 'MONOCHROME1'
  for (let i = 0; i < samples.length; i++) {
    const y = Math.round(voi((samples[i] as number) * image.rescaleSlope + image.rescaleIntercept))
    const clamped = y < 0 ? 0 : y > 255 ? 255 : y
    data[i] = invert ? 255 - clamped : clamped
  }
  return { width: image.columns, height: image.rows, channels: 1, data }
}

/** Modality value → 0..255 (unrounded). */
function voiFunction(samples: Samples, image: DicomImage, file: string): (x: number) => number {
  const lut = image.voiLut
  if (lut) {
    const top = 2 ** lut.bits - 1
    const last = lut.data.length - 1
    return (x) => {
      const i = Math.round(x) - lut.first
      return ((lut.data[i < 0 ? 0 : i > last ? last : i] as number) / top) * 255
    }
  }
  const w = image.window
  if (w) {
    const { center: c, width } = w
    if (w.fn === 'SIGMOID') return (x) => 255 / (1 + Math.exp((-4 * (x - c)) / width)) // C.11.2.1.3.1
    if (w.fn === 'LINEAR_EXACT')
      return (x) => (x <= c - width / 2 ? 0 : x > c + width / 2 ? 255 : ((x - c) / width + 0.5) * 255) // C.11.2.1.3.2
    // C.11.2.1.2.1: the linear function with its half-pixel offsets, for output range 0..255
    return (x) =>
      x <= c - 0.5 - (width - 1) / 2
        ? 0
        : x > c - 0.5 + (width - 1) / 2
          ? 255
          : ((x - (c - 0.5)) / (width - 1) + 0.5) * 255
  }
  let { min, max } = storedRange(image)
  if (image.bitsStored > 8) {
    min = Number.POSITIVE_INFINITY
    max = Number.NEGATIVE_INFINITY
    for (const v of samples) {
      if (v < min) min = v
      if (v > max) max = v
    }
    // a uniform frame has no range to stretch; shown as anything it would be a silent blank image
    if (min === max)
      throw new ImageError(
        file,
        `every pixel of the frame holds the same value (${min}) and there is no window: a blank image`,
      )
  }
  const a = min * image.rescaleSlope + image.rescaleIntercept
  const b = max * image.rescaleSlope + image.rescaleIntercept
  const low = Math.min(a, b)
  const span = Math.abs(b - a)
  return (x) => ((x - low) / span) * 255
}
