import type { DicomImage } from './dicom-image.ts'

/**
 * The stored value in a sample container: the low `bitsStored` bits (PS3.5 §8.1.1; high bits may
 * carry overlays or garbage), as two's complement when the pixel representation is signed.
 */
export function storedValue(raw: number, image: DicomImage): number {
  const bits = image.bitsStored
  const range = 2 ** bits
  const v = bits >= 32 ? raw >>> 0 : (raw >>> 0) % range
  return image.pixelRepresentation === 1 && v >= range / 2 ? v - range : v
}

/** The smallest and largest value `bitsStored` bits can hold. */
export function storedRange(image: DicomImage): { min: number; max: number } {
  const range = 2 ** image.bitsStored
  return image.pixelRepresentation === 1
    ? { min: -range / 2, max: range / 2 - 1 }
    : { min: 0, max: range - 1 }
}
