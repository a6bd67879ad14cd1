import { createRequire } from 'node:module'

/** The part of an Emscripten-built Cornerstone decoder we use (CharLS and OpenJPEG share it). */
type WasmDecoder = {
  getEncodedBuffer(length: number): Uint8Array
  decode(): void
  getFrameInfo(): {
    width: number
    height: number
    bitsPerSample: number
    componentCount: number
    isSigned?: boolean
  }
  getDecodedBuffer(): Uint8Array
  getInterleaveMode?(): number
  delete(): void
}
type Codec = { new (): WasmDecoder }

/** A decoded frame: its samples as the codec wrote them (native byte order), and their shape. */
export type CodecFrame = {
  readonly width: number
  readonly height: number
  readonly components: number
  readonly bitsPerSample: number
  readonly signed: boolean
  /** 0 means planar (CharLS's ILV_NONE); otherwise interleaved. */
  readonly interleaved: boolean
  readonly bytes: Uint8Array
}

const require = createRequire(import.meta.url)
const loaded = new Map<string, Promise<Codec>>()

/** Instantiates a codec's wasm once per process; the factories find their .wasm beside their .js. */
function codec(module: string, name: 'JpegLSDecoder' | 'J2KDecoder'): Promise<Codec> {
  let promise = loaded.get(module)
  if (!promise) {
    const factory = require(module) as (opts: object) => Promise<Record<string, Codec>>
    // OpenJPEG reports every tile on stdout; decoding errors still surface as exceptions
    promise = factory({ print: () => {}, printErr: () => {} }).then((m) => m[name] as Codec)
    loaded.set(module, promise)
  }
  return promise
}

async function run(
  module: string,
  name: 'JpegLSDecoder' | 'J2KDecoder',
  encoded: Uint8Array,
): Promise<CodecFrame> {
  const Decoder = await codec(module, name)
  const decoder = new Decoder()
  try {
    decoder.getEncodedBuffer(encoded.length).set(encoded)
    decoder.decode()
    const info = decoder.getFrameInfo()
    return {
      width: info.width,
      height: info.height,
      components: info.componentCount,
      bitsPerSample: info.bitsPerSample,
      signed: info.isSigned ?? false,
      interleaved: decoder.getInterleaveMode ? decoder.getInterleaveMode() !== 0 : true,
      // copied out of the wasm heap, which the next decode may move
      bytes: decoder.getDecodedBuffer().slice(),
    }
  } finally {
    decoder.delete()
  }
}

/** JPEG-LS (ISO 14495-1) through CharLS. */
export function decodeJpegLs(encoded: Uint8Array): Promise<CodecFrame> {
  return run('@cornerstonejs/codec-charls/decodewasmjs', 'JpegLSDecoder', encoded)
}

/** JPEG 2000 (ISO 15444-1) through OpenJPEG; its component transforms (RCT/ICT) are undone by the codec. */
export function decodeJpeg2000(encoded: Uint8Array): Promise<CodecFrame> {
  return run('@cornerstonejs/codec-openjpeg/decodewasmjs', 'J2KDecoder', encoded)
}
