/** How a transfer syntax stores pixel data: which decoder, and whether it loses information. */
export type PixelEncoding = 'native' | 'rle' | 'jpeg-baseline' | 'jpeg-lossless' | 'jpeg-ls' | 'jpeg-2000'

export type TransferSyntax = {
  readonly uid: string
  readonly name: string
  readonly encoding: PixelEncoding
  readonly lossy: boolean
  readonly bigEndian: boolean
}

/** The transfer syntaxes we decode (PS3.5 §10 and Annex A; PS3.6 Annex A for the UIDs). */
const SUPPORTED: readonly TransferSyntax[] = [
  syntax('1.2.840.10008.1.2', 'implicit VR little endian', 'native'),
  syntax('1.2.840.10008.1.2.1', 'explicit VR little endian', 'native'),
  syntax('1.2.840.10008.1.2.1.99', 'deflated explicit VR little endian', 'native'),
  { ...syntax('1.2.840.10008.1.2.2', 'explicit VR big endian (retired)', 'native'), bigEndian: true },
  { ...syntax('1.2.840.10008.1.2.4.50', 'JPEG baseline (process 1)', 'jpeg-baseline'), lossy: true },
  // Extended is baseline plus 12-bit precision; an 8-bit extended frame decodes as baseline (see decode-frame.ts).
  { ...syntax('1.2.840.10008.1.2.4.51', 'JPEG extended (process 2 and 4)', 'jpeg-baseline'), lossy: true },
  syntax('1.2.840.10008.1.2.4.57', 'JPEG lossless (process 14)', 'jpeg-lossless'),
  syntax('1.2.840.10008.1.2.4.70', 'JPEG lossless (process 14, selection value 1)', 'jpeg-lossless'),
  syntax('1.2.840.10008.1.2.4.80', 'JPEG-LS lossless', 'jpeg-ls'),
  { ...syntax('1.2.840.10008.1.2.4.81', 'JPEG-LS near-lossless', 'jpeg-ls'), lossy: true },
  syntax('1.2.840.10008.1.2.4.90', 'JPEG 2000 (lossless only)', 'jpeg-2000'),
  { ...syntax('1.2.840.10008.1.2.4.91', 'JPEG 2000', 'jpeg-2000'), lossy: true },
  syntax('1.2.840.10008.1.2.5', 'RLE lossless', 'rle'),
]

/** Names of syntaxes we recognise but do not decode, so the skip reason says what the file is. */
const KNOWN_UNSUPPORTED: Readonly<Record<string, string>> = {
  '1.2.840.10008.1.2.4.100': 'MPEG2 video',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264 video',
  '1.2.840.10008.1.2.4.103': 'MPEG-4 AVC/H.264 BD-compatible video',
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 (lossless only)',
  '1.2.840.10008.1.2.4.202': 'High-Throughput JPEG 2000 with RPCL (lossless only)',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000',
}

function syntax(uid: string, name: string, encoding: PixelEncoding): TransferSyntax {
  return { uid, name, encoding, lossy: false, bigEndian: false }
}

/** The syntax of `uid`, or a sentence saying why it cannot be decoded. */
export function transferSyntaxOf(uid: string): TransferSyntax | { readonly unsupported: string } {
  const known = SUPPORTED.find((s) => s.uid === uid)
  if (known) return known
  const name = KNOWN_UNSUPPORTED[uid]
  return {
    unsupported: `unsupported transfer syntax ${uid}${name ? ` (${name})` : ''}; supported are ${SUPPORTED.map((s) => s.name).join(', ')}`,
  }
}
