import type { TransferSyntax } from './transfer-syntax.ts'

/** A VOI LUT (PS3.3 C.11.2.1.1): `data[i]` is the output for input `first + i`, in [0, 2^bits). */
export type VoiLut = { readonly first: number; readonly bits: number; readonly data: readonly number[] }

/** The VOI function that turns a window into output (PS3.3 C.11.2.1.3). */
export type VoiFunction = 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID'

export type Photometric = 'MONOCHROME1' | 'MONOCHROME2' | 'RGB' | 'YBR_FULL' | 'YBR_FULL_422'

/**
 * What decoding needs from a DICOM header, and nothing else: no names, dates or identifiers are
 * read, so none can leave through here.
 */
export type DicomImage = {
  readonly syntax: TransferSyntax
  readonly rows: number
  readonly columns: number
  readonly samplesPerPixel: 1 | 3
  readonly photometric: Photometric
  readonly bitsAllocated: 8 | 16 | 32
  readonly bitsStored: number
  /** 0 unsigned, 1 two's complement. */
  readonly pixelRepresentation: 0 | 1
  /** 0 interleaved (R G B R G B …), 1 planar (R… G… B…). */
  readonly planarConfiguration: 0 | 1
  readonly frames: number
  readonly rescaleSlope: number
  readonly rescaleIntercept: number
  readonly window: { readonly center: number; readonly width: number; readonly fn: VoiFunction } | undefined
  readonly voiLut: VoiLut | undefined
}

/** Stored samples of one frame, interleaved, as the integers the file holds (before rescale). */
export type Samples = Float64Array
