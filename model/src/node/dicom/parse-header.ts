import type { DataSet, Element } from 'dicom-parser'
import { ImageError } from '../image-error.ts'
import type { DicomImage, Photometric, VoiFunction, VoiLut } from './dicom-image.ts'
import { dicomParser } from './dicom-parser.ts'
import { transferSyntaxOf } from './transfer-syntax.ts'

/** Where the pixel data is, for frame-bytes.ts; only the elements decoding needs are ever read. */
export type PixelData = { readonly dataSet: DataSet; readonly element: Element }

const PIXEL_DATA = 'x7fe00010'

/**
 * Parses a Part 10 file up to and including its Pixel Data element (nothing after it is read) and
 * reads the attributes decoding needs: the Image Pixel module (PS3.3 C.7.6.3), Modality LUT
 * rescale (C.11.1) and VOI LUT (C.11.2). Anything missing or out of range is an ImageError.
 */
export function parseHeader(bytes: Uint8Array, file: string): { image: DicomImage; pixelData: PixelData } {
  const fail = (reason: string): never => {
    throw new ImageError(file, reason)
  }
  let dataSet: DataSet
  try {
    // a Buffer, because dicom-parser inflates the deflated syntax with Buffer.copy
    dataSet = dicomParser.parseDicom(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
      untilTag: PIXEL_DATA,
    })
  } catch (error) {
    return fail(`DICOM file cannot be parsed, probably truncated (${parserMessage(error)})`)
  }
  const uid = dataSet.string('x00020010')
  if (uid === undefined)
    return fail('DICOM file has no transfer syntax UID (0002,0010) in its meta information')
  const syntax = transferSyntaxOf(uid)
  if ('unsupported' in syntax) return fail(syntax.unsupported)
  const element = dataSet.elements[PIXEL_DATA]
  if (!element) return fail('DICOM file holds no pixel data (7FE0,0010): not an image')
  if (element.hadUndefinedLength || element.length === 0xffffffff) {
    // untilTag stops at the element's header; its fragments (PS3.5 A.4) are read here, and nothing after them.
    try {
      const stream = new dicomParser.ByteStream(
        dataSet.byteArrayParser,
        dataSet.byteArray,
        element.dataOffset,
      )
      dicomParser.findEndOfEncapsulatedElement(stream, element, [])
    } catch (error) {
      return fail(
        `DICOM file's compressed pixel data cannot be read, probably truncated (${parserMessage(error)})`,
      )
    }
  }
  const us = (tag: string, what: string): number => {
    const v = dataSet.uint16(tag)
    if (v === undefined) return fail(`DICOM file has no ${what} (${tagName(tag)})`)
    return v
  }
  const rows = us('x00280010', 'rows')
  const columns = us('x00280011', 'columns')
  if (rows < 1 || columns < 1) fail(`DICOM image is ${rows}x${columns}; expected at least 1x1`)
  const samplesPerPixel = us('x00280002', 'samples per pixel')
  if (samplesPerPixel !== 1 && samplesPerPixel !== 3)
    fail(`DICOM image has ${samplesPerPixel} samples per pixel; expected 1 or 3`)
  const photometric = (dataSet.string('x00280004') ?? '').trim()
  const expected =
    samplesPerPixel === 1 ? ['MONOCHROME1', 'MONOCHROME2'] : ['RGB', 'YBR_FULL', 'YBR_FULL_422']
  // JPEG 2000's component transforms and lossy YBR variants come out of the codec as RGB.
  const codecColor = syntax.encoding === 'jpeg-2000' || syntax.encoding === 'jpeg-baseline'
  const known =
    expected.includes(photometric) ||
    (codecColor && samplesPerPixel === 3 && ['YBR_RCT', 'YBR_ICT', 'YBR_PARTIAL_420'].includes(photometric))
  if (!known)
    fail(
      `unsupported photometric interpretation "${photometric}" with ${samplesPerPixel} sample(s) per pixel; expected ${expected.join(' or ')}`,
    )
  const bitsAllocated = us('x00280100', 'bits allocated')
  if (bitsAllocated !== 8 && bitsAllocated !== 16 && bitsAllocated !== 32)
    fail(`unsupported bits allocated ${bitsAllocated}; expected 8, 16 or 32`)
  const bitsStored = us('x00280101', 'bits stored')
  if (bitsStored < 1 || bitsStored > bitsAllocated)
    fail(`bits stored ${bitsStored} does not fit in bits allocated ${bitsAllocated}`)
  const pixelRepresentation = dataSet.uint16('x00280103') ?? 0
  if (pixelRepresentation !== 0 && pixelRepresentation !== 1)
    fail(`pixel representation ${pixelRepresentation}; expected 0 (unsigned) or 1 (signed)`)
  const planarConfiguration = samplesPerPixel === 3 ? (dataSet.uint16('x00280006') ?? 0) : 0
  if (planarConfiguration !== 0 && planarConfiguration !== 1)
    fail(`planar configuration ${planarConfiguration}; expected 0 or 1`)
  const framesText = dataSet.string('x00280008')
  const frames = framesText === undefined || framesText.trim() === '' ? 1 : Number(framesText)
  if (!Number.isInteger(frames) || frames < 1)
    fail(`number of frames "${framesText}"; expected a positive integer`)
  const decimal = (tag: string, fallback: number, what: string): number => {
    const text = dataSet.string(tag)
    if (text === undefined || text.trim() === '') return fallback
    const v = Number(text.split('\\')[0])
    if (!Number.isFinite(v)) return fail(`${what} (${tagName(tag)}) is "${text}"; expected a number`)
    return v
  }
  const rescaleSlope = decimal('x00281053', 1, 'rescale slope')
  const rescaleIntercept = decimal('x00281052', 0, 'rescale intercept')
  if (rescaleSlope === 0) fail('rescale slope (0028,1053) is 0: every pixel would be the same')
  return {
    image: {
      syntax,
      rows,
      columns,
      samplesPerPixel: samplesPerPixel as 1 | 3,
      photometric: photometricOf(photometric),
      bitsAllocated: bitsAllocated as 8 | 16 | 32,
      bitsStored,
      pixelRepresentation: pixelRepresentation as 0 | 1,
      planarConfiguration: planarConfiguration as 0 | 1,
      frames,
      rescaleSlope,
      rescaleIntercept,
      window: samplesPerPixel === 1 ? windowOf(dataSet, decimal, fail) : undefined,
      voiLut: samplesPerPixel === 1 ? voiLutOf(dataSet, fail) : undefined,
    },
    pixelData: { dataSet, element },
  }
}

function photometricOf(p: string): Photometric {
  if (p === 'MONOCHROME1' || p === 'MONOCHROME2' || p === 'YBR_FULL' || p === 'YBR_FULL_422') return p
  return 'RGB' // RGB itself, or a codec that hands back RGB (YBR_RCT, YBR_ICT, YBR_PARTIAL_420)
}

/** The first window (PS3.3 C.11.2.1.2); a width below 1 is refused, as the standard requires ≥ 1. */
function windowOf(
  dataSet: DataSet,
  decimal: (tag: string, fallback: number, what: string) => number,
  fail: (reason: string) => never,
): DicomImage['window'] {
  if (dataSet.string('x00281050') === undefined || dataSet.string('x00281051') === undefined) return undefined
  const center = decimal('x00281050', Number.NaN, 'window center')
  const width = decimal('x00281051', Number.NaN, 'window width')
  if (Number.isNaN(center) || Number.isNaN(width)) return undefined
  if (width < 1) fail(`window width (0028,1051) is ${width}; the standard requires at least 1`)
  const fn = (dataSet.string('x00281056') ?? 'LINEAR').trim().toUpperCase()
  if (fn !== 'LINEAR' && fn !== 'LINEAR_EXACT' && fn !== 'SIGMOID')
    fail(`VOI LUT function (0028,1056) is "${fn}"; expected LINEAR, LINEAR_EXACT or SIGMOID`)
  return { center, width, fn: fn as VoiFunction }
}

/** The first item of the VOI LUT Sequence (0028,3010), if any (PS3.3 C.11.2.1.1). */
function voiLutOf(dataSet: DataSet, fail: (reason: string) => never): VoiLut | undefined {
  const item = dataSet.elements.x00283010?.items?.[0]?.dataSet
  if (!item) return undefined
  const descriptor = item.elements.x00283002
  const lut = item.elements.x00283006
  if (!descriptor || !lut)
    return fail('VOI LUT sequence item lacks its LUT descriptor (0028,3002) or data (0028,3006)')
  // The descriptor is US or SS by the VR, but its second value is signed when the input is (PS3.3 C.11.2.1.1.1).
  const rawCount = item.uint16('x00283002', 0) ?? 0
  const count = rawCount === 0 ? 65536 : rawCount
  const firstUnsigned = item.uint16('x00283002', 1) ?? 0
  const first = firstUnsigned >= 32768 ? firstUnsigned - 65536 : firstUnsigned
  const bits = item.uint16('x00283002', 2) ?? 0
  if (bits < 8 || bits > 16) return fail(`VOI LUT descriptor says ${bits}-bit entries; expected 8 to 16`)
  const eight = lut.length === count && bits === 8
  if (!eight && lut.length !== count * 2)
    return fail(
      `VOI LUT data holds ${lut.length} bytes; its descriptor says ${count} entries of ${bits} bits`,
    )
  // 16-bit words by the standard; some writers pack 8-bit entries one per byte
  const data = Array.from({ length: count }, (_, i) =>
    eight ? (item.byteArray[lut.dataOffset + i] as number) : (item.uint16('x00283006', i) as number),
  )
  return { first, bits, data }
}

function tagName(tag: string): string {
  return `${tag.slice(1, 5).toUpperCase()},${tag.slice(5).toUpperCase()}`
}

/** dicom-parser throws strings, or objects holding `exception`; this says what it said. */
function parserMessage(error: unknown): string {
  if (typeof error === 'string') return error
  if (error instanceof Error) return error.message
  if (typeof error === 'object' && error !== null && 'exception' in error) return String(error.exception)
  return String(error)
}
