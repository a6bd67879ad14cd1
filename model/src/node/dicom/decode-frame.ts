import { ImageError } from '../image-error.ts'
import type { DicomImage, Samples } from './dicom-image.ts'
import { decodeJpegBaseline, decodeJpegLossless } from './jpeg-frames.ts'
import { nativeSamples } from './native-samples.ts'
import { decodeRle } from './rle.ts'
import { storedValue } from './stored-value.ts'
import { type CodecFrame, decodeJpeg2000, decodeJpegLs } from './wasm-codecs.ts'

/**
 * One frame's stored values, interleaved, by the file's transfer syntax. `rgb` says whether colour
 * came out as RGB already (the JPEG and JPEG 2000 codecs undo their own colour transforms) or still
 * in the file's photometric interpretation.
 */
export async function decodeFrame(
  bytes: Uint8Array,
  image: DicomImage,
  file: string,
): Promise<{ samples: Samples; rgb: boolean }> {
  switch (image.syntax.encoding) {
    case 'native':
      return { samples: nativeSamples(bytes, image), rgb: false }
    case 'rle':
      return { samples: decodeRle(bytes, image, file), rgb: false }
    case 'jpeg-baseline':
      return { samples: codecSamples(decodeJpegBaseline(bytes, image, file), image, file), rgb: true }
    case 'jpeg-lossless':
      return { samples: codecSamples(decodeJpegLossless(bytes, image, file), image, file), rgb: false }
    case 'jpeg-ls':
      return {
        samples: codecSamples(await wasm(() => decodeJpegLs(bytes), 'JPEG-LS', file), image, file),
        rgb: false,
      }
    case 'jpeg-2000':
      return {
        samples: codecSamples(await wasm(() => decodeJpeg2000(bytes), 'JPEG 2000', file), image, file),
        rgb: true,
      }
  }
}

async function wasm(run: () => Promise<CodecFrame>, what: string, file: string): Promise<CodecFrame> {
  try {
    return await run()
  } catch (error) {
    // Emscripten codecs throw numbers or strings as well as Errors
    throw new ImageError(
      file,
      `${what} pixel data cannot be decoded (${error instanceof Error ? error.message : String(error)})`,
    )
  }
}

/** A codec's output checked against the header, then read as stored values (interleaved). */
function codecSamples(frame: CodecFrame, image: DicomImage, file: string): Samples {
  if (
    frame.width !== image.columns ||
    frame.height !== image.rows ||
    frame.components !== image.samplesPerPixel
  )
    throw new ImageError(
      file,
      `the compressed frame is ${frame.width}x${frame.height} with ${frame.components} component(s), but the header says ${image.columns}x${image.rows} with ${image.samplesPerPixel}`,
    )
  const pixels = frame.width * frame.height
  const spp = frame.components
  const wide = frame.bitsPerSample > 8
  if (frame.bytes.byteLength !== pixels * spp * (wide ? 2 : 1))
    throw new ImageError(
      file,
      `the codec returned ${frame.bytes.byteLength} bytes for ${pixels * spp} samples`,
    )
  // the codecs write samples in the machine's byte order: little endian on every platform Node runs on
  const view = new DataView(frame.bytes.buffer, frame.bytes.byteOffset, frame.bytes.byteLength)
  const raw = (i: number) => (wide ? view.getUint16(i * 2, true) : (frame.bytes[i] as number))
  const out = new Float64Array(pixels * spp)
  for (let p = 0; p < pixels; p++)
    for (let s = 0; s < spp; s++)
      out[p * spp + s] = storedValue(
        raw(frame.interleaved || spp === 1 ? p * spp + s : s * pixels + p),
        image,
      )
  return out
}
