import { ImageError } from '../image-error.ts'
import type { DicomImage } from './dicom-image.ts'
import { dicomParser } from './dicom-parser.ts'
import type { PixelData } from './parse-header.ts'

/**
 * The frame every multi-frame file is read at: the first (index 0), whatever the number of frames.
 * One image per file is what a class folder holds; docs/dicom.md says so.
 */
export const FRAME_INDEX = 0

/** Bytes of one native frame: rows × columns × samples × bits allocated / 8 (YBR_FULL_422 shares Cb Cr by pairs). */
export function nativeFrameLength(image: DicomImage): number {
  const samples = image.photometric === 'YBR_FULL_422' ? 2 : image.samplesPerPixel
  return (image.rows * image.columns * samples * image.bitsAllocated) / 8
}

/**
 * The bytes of frame `FRAME_INDEX`, as stored: native pixels, or the compressed fragments of that
 * frame (PS3.5 A.4). Nothing of the other frames is copied.
 */
export function frameBytes(image: DicomImage, { dataSet, element }: PixelData, file: string): Uint8Array {
  const bytes = dataSet.byteArray
  if (image.syntax.encoding === 'native') {
    if (element.encapsulatedPixelData)
      throw new ImageError(
        file,
        `pixel data is encapsulated, but the transfer syntax ${image.syntax.name} is native`,
      )
    const frame = nativeFrameLength(image)
    const total = frame * image.frames
    // PS3.5 §8.1.1: a native Pixel Data value has even length, so one byte of padding is allowed.
    if (element.length !== total && element.length !== total + (total % 2))
      throw new ImageError(
        file,
        `pixel data holds ${element.length} bytes, but ${image.frames} frame(s) of ${image.rows} rows × ${image.columns} columns × ${image.samplesPerPixel} sample(s) at ${image.bitsAllocated} bits need ${total}`,
      )
    if (element.dataOffset + total > bytes.length)
      throw new ImageError(
        file,
        `DICOM file is truncated: its pixel data needs ${total} bytes, only ${bytes.length - element.dataOffset} are there`,
      )
    const start = element.dataOffset + frame * FRAME_INDEX
    if (image.syntax.bigEndian && image.bitsAllocated === 8 && element.vr === 'OW') {
      // 8-bit samples in an OW value are byte-swapped in pairs in big endian (PS3.5 §7.3)
      const out = new Uint8Array(frame)
      for (let i = 0; i < frame; i++) out[i] = bytes[start + (i ^ 1)] as number
      return out
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset + start, frame)
  }
  const fragments = element.fragments ?? []
  if (!element.encapsulatedPixelData || fragments.length === 0)
    throw new ImageError(
      file,
      `pixel data of ${image.syntax.name} must be encapsulated fragments, found none`,
    )
  try {
    if (image.frames === 1)
      return dicomParser.readEncapsulatedPixelDataFromFragments(dataSet, element, 0, fragments.length)
    if ((element.basicOffsetTable ?? []).length > 0)
      return dicomParser.readEncapsulatedImageFrame(dataSet, element, FRAME_INDEX)
    if (fragments.length === image.frames)
      return dicomParser.readEncapsulatedPixelDataFromFragments(dataSet, element, FRAME_INDEX, 1)
    if (image.syntax.encoding.startsWith('jpeg'))
      return dicomParser.readEncapsulatedImageFrame(
        dataSet,
        element,
        FRAME_INDEX,
        dicomParser.createJPEGBasicOffsetTable(dataSet, element),
      )
  } catch (error) {
    throw new ImageError(
      file,
      `cannot find frame ${FRAME_INDEX + 1} in the pixel data fragments (${String(error)})`,
    )
  }
  throw new ImageError(
    file,
    `${image.frames} frames in ${fragments.length} fragments without an offset table: cannot tell where frame ${FRAME_INDEX + 1} ends`,
  )
}
