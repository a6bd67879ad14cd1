import type { DicomImage, Samples } from './dicom-image.ts'
import { storedValue } from './stored-value.ts'

/**
 * Stored values of one native frame, interleaved. Planar frames (R… G… B…) are interleaved here;
 * YBR_FULL_422 (PS3.3 C.7.6.3.1.2: Y1 Y2 Cb Cr for each horizontal pair) is expanded to Y Cb Cr per pixel.
 */
export function nativeSamples(bytes: Uint8Array, image: DicomImage): Samples {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const little = !image.syntax.bigEndian
  const width = image.bitsAllocated / 8
  const raw = (i: number): number =>
    width === 1
      ? (bytes[i] as number)
      : width === 2
        ? view.getUint16(i * 2, little)
        : view.getUint32(i * 4, little)
  const pixels = image.rows * image.columns
  const spp = image.samplesPerPixel
  const out = new Float64Array(pixels * spp)
  if (image.photometric === 'YBR_FULL_422') {
    for (let pair = 0; pair < pixels / 2; pair++) {
      const cb = storedValue(raw(pair * 4 + 2), image)
      const cr = storedValue(raw(pair * 4 + 3), image)
      out.set(
        [storedValue(raw(pair * 4), image), cb, cr, storedValue(raw(pair * 4 + 1), image), cb, cr],
        pair * 6,
      )
    }
    return out
  }
  for (let p = 0; p < pixels; p++)
    for (let s = 0; s < spp; s++)
      out[p * spp + s] = storedValue(
        raw(image.planarConfiguration === 1 ? s * pixels + p : p * spp + s),
        image,
      )
  return out
}
