import { readFile } from 'node:fs/promises'
import { deflateSync } from 'node:zlib'
import { decodeImage, ImageError } from '@fedtune/model/node'
import { PNG } from 'pngjs'
import { describe, expect, it } from 'vitest'
import { catJpg } from './shared.ts'

/**
 * A 2x1 PNG in the given colour type and bit depth from RGBA input: pixel 0 is (10, 20, 30, a0),
 * pixel 1 (200, 150, 100, 255). pngjs composites on white when it drops alpha, so opaque types use a0 = 255.
 */
function png(colorType: 0 | 2 | 4 | 6, bitDepth: 8 | 16 = 8, a0 = 255): Uint8Array {
  const rgba = [10, 20, 30, a0, 200, 150, 100, 255]
  const opts = { width: 2, height: 1, colorType, inputColorType: 6, bitDepth, inputHasAlpha: true } as const
  const image = new PNG(opts)
  // pngjs takes 16-bit input as native-endian uint16 samples; v·257 is v scaled to 16 bits exactly.
  image.data =
    bitDepth === 16 ? Buffer.from(Uint16Array.from(rgba, (v) => v * 257).buffer) : Buffer.from(rgba)
  return new Uint8Array(PNG.sync.write(image, opts))
}

describe('decodeImage', () => {
  it('reads an RGB PNG as three channels with the exact samples', async () => {
    const p = await decodeImage(png(2), 'rgb.png')
    expect(p).toMatchObject({ width: 2, height: 1, channels: 3 })
    expect([...p.data]).toEqual([10, 20, 30, 200, 150, 100])
  })

  it('keeps the alpha channel of an RGBA PNG', async () => {
    const p = await decodeImage(png(6, 8, 40), 'rgba.png')
    expect(p.channels).toBe(4)
    expect([...p.data]).toEqual([10, 20, 30, 40, 200, 150, 100, 255])
  })

  it('reads a grayscale PNG as one channel', async () => {
    const p = await decodeImage(png(0), 'gray.png')
    expect(p.channels).toBe(1)
    expect(p.data.length).toBe(2)
    // pngjs converts RGB to gray by the mean of the channels.
    expect(p.data[0]).toBe(20)
    expect(p.data[1]).toBe(150)
  })

  it('reads gray with alpha as one channel, dropping the alpha', async () => {
    const p = await decodeImage(png(4), 'gray-alpha.png')
    expect(p.channels).toBe(1)
    expect([...p.data]).toEqual([20, 150])
  })

  it('scales a 16-bit PNG down to 8 bits', async () => {
    const p = await decodeImage(png(2, 16), 'deep.png')
    expect(p.channels).toBe(3)
    expect([...p.data]).toEqual([10, 20, 30, 200, 150, 100])
  })

  it('reads a palette PNG as RGB', async () => {
    // A hand-built 1x2 palette PNG: colour type 3, palette [(255,0,0), (0,0,255)], pixels 0 then 1.
    const bytes = paletteImage()
    const p = await decodeImage(bytes, 'palette.png')
    expect(p).toMatchObject({ width: 1, height: 2, channels: 3 })
    expect([...p.data]).toEqual([255, 0, 0, 0, 0, 255])
  })

  it('decodes a JPEG by its magic bytes, whatever its name', async () => {
    const bytes = new Uint8Array(await readFile(catJpg))
    const p = await decodeImage(bytes, 'cat.png')
    expect(p.channels).toBe(3)
    expect(p.width * p.height * 3).toBe(p.data.length)
    expect(p.width).toBeGreaterThan(100)
    expect(p.height).toBeGreaterThan(100)
  })

  it('refuses a file that is neither PNG, JPEG nor DICOM, naming the file and showing its first bytes', async () => {
    const call = () => decodeImage(new TextEncoder().encode('hello, world'), 'notes/scan.png')
    await expect(call()).rejects.toThrow(ImageError)
    await expect(call()).rejects.toThrow(
      /notes\/scan\.png: expected a PNG, JPEG or DICOM image.*68 65 6c 6c 6f.*"hello, w"/,
    )
  })

  it('refuses a truncated PNG with a message naming the file', async () => {
    await expect(decodeImage(png(2).subarray(0, 30), 'cut.png')).rejects.toThrow(
      /cut\.png: looks like a PNG but cannot be decoded/,
    )
  })
})

function paletteImage(): Uint8Array {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc = (bytes: Uint8Array) => {
    let c = 0xffffffff
    for (const b of bytes) c = (crcTable[(c ^ b) & 0xff] as number) ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type: string, data: number[]) => {
    const body = new Uint8Array([...new TextEncoder().encode(type), ...data])
    const out = Buffer.alloc(12 + data.length)
    out.writeUInt32BE(data.length, 0)
    out.set(body, 4)
    out.writeUInt32BE(crc(body), 8 + data.length)
    return out
  }
  const ihdr = [0, 0, 0, 1, 0, 0, 0, 2, 8, 3, 0, 0, 0]
  // Two scanlines, each a filter byte 0 then one palette index.
  const idat = [...deflateSync(Buffer.from([0, 0, 0, 1]))]
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('PLTE', [255, 0, 0, 0, 0, 255]),
      chunk('IDAT', idat),
      chunk('IEND', []),
    ]),
  )
}
