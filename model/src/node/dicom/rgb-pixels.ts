import type { Pixels } from '../../pixels.ts'
import type { DicomImage, Samples } from './dicom-image.ts'
import { storedRange } from './stored-value.ts'

/**
 * Colour stored values to 8-bit RGB. Samples are scaled from the range their stored bits hold to
 * 0..255 (no windowing: VOI applies to monochrome only, PS3.3 C.11.2). Y Cb Cr (YBR_FULL, and
 * YBR_FULL_422 once expanded) becomes RGB by the full-range equations of PS3.3 C.7.6.3.1.2.
 */
export function rgbPixels(samples: Samples, image: DicomImage, rgb: boolean): Pixels {
  const { min, max } = storedRange(image)
  const scale = 255 / (max - min)
  const data = new Uint8Array(samples.length)
  const ybr = !rgb && (image.photometric === 'YBR_FULL' || image.photometric === 'YBR_FULL_422')
  for (let i = 0; i < samples.length; i += 3) {
    const a = ((samples[i] as number) - min) * scale
    const b = ((samples[i + 1] as number) - min) * scale
    const c = ((samples[i + 2] as number) - min) * scale
    if (ybr) {
      data[i] = clamp(a + 1.402 * (c - 128))
      data[i + 1] = clamp(a - 0.344136 * (b - 128) - 0.714136 * (c - 128))
      data[i + 2] = clamp(a + 1.772 * (b - 128))
    } else {
      data[i] = clamp(a)
      data[i + 1] = clamp(b)
      data[i + 2] = clamp(c)
    }
  }
  return { width: image.columns, height: image.rows, channels: 3, data }
}

function clamp(v: number): number {
  const r = Math.round(v)
  return r < 0 ? 0 : r > 255 ? 255 : r
}
