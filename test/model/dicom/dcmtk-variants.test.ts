import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Pixels } from '@fedtune/model'
import { decodeImage, ImageError } from '@fedtune/model/node'
import { runDataSplit } from 'fedtune/data'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { convert, dcmtk, img2dcm, modify, read } from './dcmtk.ts'

/**
 * Each transfer syntax and pixel variant, made by dcmtk from real PneumoniaMNIST chest X-rays that
 * `fedtune data split` wrote as PNG, decodes to the source image: exactly where the syntax is
 * lossless, within a stated tolerance where it is lossy.
 */
const shared = new URL('../../../../shared/', import.meta.url).pathname
let work: string
let sources: Pixels[] = []
let rgbSource: Pixels
/** base[i]: img2dcm of source i (8-bit MONOCHROME2, explicit VR little endian). */
let base: string[] = []

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fedtune-dicom-'))
  await runDataSplit(
    [
      '--dataset',
      join(shared, 'datasets', 'pneumoniamnist.npz'),
      '--out',
      join(work, 'png'),
      '--hospitals',
      '1',
    ],
    { log: () => {} },
  )
  const folder = join(work, 'png', 'hospital-1', 'pneumonia')
  const pngs = readdirSync(folder).sort().slice(0, 3)
  sources = await Promise.all(pngs.map((f) => decodeImage(read(join(folder, f)), f)))
  base = sources.map((p, i) => img2dcm(p, work, `source-${i}`))
  // a colour image from a real one: R the X-ray, G its negative, B a third of it
  const s = sources[0] as Pixels
  const rgb = new Uint8Array(s.width * s.height * 3)
  for (let i = 0; i < s.width * s.height; i++) {
    const v = s.data[i] as number
    rgb.set([v, 255 - v, Math.floor(v / 3)], i * 3)
  }
  rgbSource = { width: s.width, height: s.height, channels: 3, data: rgb }
}, 120_000)

afterAll(() => rmSync(work, { recursive: true, force: true }))

/** Decodes every variant made by `make` from each source and returns (decoded, source) pairs. */
async function each(make: (file: string, i: number) => string): Promise<[Pixels, Pixels][]> {
  return Promise.all(
    base.map(async (file, i) => [
      await decodeImage(read(make(file, i)), `variant-${i}`),
      sources[i] as Pixels,
    ]),
  )
}

function maxDiff(a: Pixels, b: Pixels): number {
  expect({ w: a.width, h: a.height, c: a.channels }).toEqual({ w: b.width, h: b.height, c: b.channels })
  let max = 0
  for (let i = 0; i < a.data.length; i++)
    max = Math.max(max, Math.abs((a.data[i] as number) - (b.data[i] as number)))
  return max
}

function meanDiff(a: Pixels, b: Pixels): number {
  let sum = 0
  for (let i = 0; i < a.data.length; i++) sum += Math.abs((a.data[i] as number) - (b.data[i] as number))
  return sum / a.data.length
}

const v = (file: string, suffix: string) => file.replace(/\.dcm$/, `-${suffix}.dcm`)

/** 16 bits stored: each 8-bit value v as v·257 (fills 0..65535), written with dcmodify over img2dcm's file. */
function sixteenBit(file: string, i: number, extra: readonly string[]): string {
  const words = Uint16Array.from(sources[i]?.data ?? [], (x) => x * 257)
  const raw = v(file, 'raw16.bin').replace(/\.dcm$/, '')
  writeFileSync(raw, new Uint8Array(words.buffer))
  return modify(
    file,
    v(file, `16-${extra.length}`),
    ['BitsAllocated=16', 'BitsStored=16', 'HighBit=15', ...extra],
    [`PixelData=${raw}`],
  )
}

/** 12 bits stored in 16: each 8-bit value v as 16·v. */
function twelveBit(file: string, i: number, extra: readonly string[], tag: string): string {
  const words = Uint16Array.from(sources[i]?.data ?? [], (x) => x * 16)
  const raw = v(file, `raw12-${tag}.bin`).replace(/\.dcm$/, '')
  writeFileSync(raw, new Uint8Array(words.buffer))
  return modify(
    file,
    v(file, `12-${tag}`),
    ['BitsAllocated=16', 'BitsStored=12', 'HighBit=11', ...extra],
    [`PixelData=${raw}`],
  )
}

describe('lossless syntaxes decode to the source pixels exactly', () => {
  const lossless: [string, (f: string) => string][] = [
    ['explicit VR little endian (img2dcm)', (f) => f],
    ['implicit VR little endian (dcmconv +ti)', (f) => convert(f, 'dcmconv', ['+ti'], v(f, 'ti'))],
    ['explicit VR big endian (dcmconv +tb)', (f) => convert(f, 'dcmconv', ['+tb'], v(f, 'tb'))],
    ['deflated explicit VR little endian (dcmconv +td)', (f) => convert(f, 'dcmconv', ['+td'], v(f, 'td'))],
    ['RLE lossless (dcmcrle)', (f) => convert(f, 'dcmcrle', [], v(f, 'rle'))],
    ['JPEG-LS lossless (dcmcjpls)', (f) => convert(f, 'dcmcjpls', [], v(f, 'jls'))],
    ['JPEG lossless, selection value 1 (dcmcjpeg +e1)', (f) => convert(f, 'dcmcjpeg', ['+e1'], v(f, 'jl1'))],
    [
      'JPEG lossless process 14, predictor 6 (dcmcjpeg +el)',
      (f) => convert(f, 'dcmcjpeg', ['+el'], v(f, 'jl14')),
    ],
  ]
  for (const [name, make] of lossless)
    it(name, async () => {
      for (const [decoded, source] of await each(make)) expect(maxDiff(decoded, source)).toBe(0)
    })

  it('MONOCHROME1 is inverted: the stored negative of an image decodes to the image', async () => {
    const pairs = await each((_, i) => {
      const s = sources[i] as Pixels
      const negative = img2dcm({ ...s, data: s.data.map((x) => 255 - x) }, work, `negative-${i}`)
      return modify(negative, v(negative, 'mono1'), ['PhotometricInterpretation=MONOCHROME1'])
    })
    for (const [decoded, source] of pairs) expect(maxDiff(decoded, source)).toBe(0)
  })

  it('16 bits stored with a window of the full range (centre 32768, width 65536) comes back exactly, native and compressed', async () => {
    const window = ['WindowCenter=32768', 'WindowWidth=65536']
    for (const make of [
      (f: string, i: number) => sixteenBit(f, i, window),
      (f: string, i: number) => convert(sixteenBit(f, i, window), 'dcmcrle', [], v(f, '16-rle')),
      (f: string, i: number) => convert(sixteenBit(f, i, window), 'dcmcjpls', [], v(f, '16-jls')),
      (f: string, i: number) => convert(sixteenBit(f, i, window), 'dcmcjpeg', ['+e1'], v(f, '16-jl1')),
    ])
      for (const [decoded, source] of await each(make)) expect(maxDiff(decoded, source)).toBe(0)
  })

  it('12 bits stored with rescale slope 1/16 and the 8-bit identity window (centre 128, width 256) comes back exactly', async () => {
    const pairs = await each((f, i) =>
      twelveBit(
        f,
        i,
        ['RescaleSlope=0.0625', 'RescaleIntercept=0', 'WindowCenter=128', 'WindowWidth=256'],
        'rescaled',
      ),
    )
    for (const [decoded, source] of pairs) expect(maxDiff(decoded, source)).toBe(0)
  })

  it('12 bits stored without a window stretch the frame from its smallest to its largest value', async () => {
    for (const [decoded, source] of await each((f, i) => twelveBit(f, i, [], 'plain'))) {
      const lo = Math.min(...source.data)
      const hi = Math.max(...source.data)
      const expected = source.data.map((x) => Math.round(((x - lo) / (hi - lo)) * 255))
      expect(maxDiff(decoded, { ...source, data: expected })).toBe(0)
    }
  })

  it('a VOI LUT takes precedence over the window: an inverting LUT gives the negative', async () => {
    const pairs = await each((f, i) => {
      const lut = v(f, 'lut.bin').replace(/\.dcm$/, '')
      writeFileSync(lut, new Uint8Array(Uint16Array.from({ length: 256 }, (_, k) => 255 - k).buffer))
      return modify(
        f,
        v(f, `voi-${i}`),
        ['WindowCenter=40', 'WindowWidth=10', '(0028,3010)[0].(0028,3002)=256\\0\\8'],
        [`(0028,3010)[0].(0028,3006)=${lut}`],
      )
    })
    for (const [decoded, source] of pairs)
      expect(maxDiff(decoded, { ...source, data: source.data.map((x) => 255 - x) })).toBe(0)
  })

  it('RGB, native, RLE and JPEG-LS, comes back exactly as three channels', async () => {
    const file = img2dcm(rgbSource, work, 'rgb')
    for (const f of [
      file,
      convert(file, 'dcmcrle', [], v(file, 'rle')),
      convert(file, 'dcmcjpls', [], v(file, 'jls')),
      convert(file, 'dcmconv', ['+tb'], v(file, 'tb')),
    ])
      expect(maxDiff(await decodeImage(read(f), f), rgbSource)).toBe(0)
  })
})

describe('lossy syntaxes decode within a stated tolerance', () => {
  // +sr: dcmcjpeg's default (+sp) would stretch each image to its own min..max before compressing
  it('JPEG baseline (dcmcjpeg +eb +sr, quality 90): mean error under 1.5 levels, none over 8', async () => {
    for (const [decoded, source] of await each((f) => convert(f, 'dcmcjpeg', ['+eb', '+sr'], v(f, 'jb')))) {
      expect(meanDiff(decoded, source)).toBeLessThan(1.5)
      expect(maxDiff(decoded, source)).toBeLessThanOrEqual(8)
    }
  })

  it('JPEG baseline of RGB as YBR_FULL_422 (dcmcjpeg +eb): as close to the source as the decoding by dcmtk (dcmdjpeg) within half again, under 10 levels on average', async () => {
    const file = img2dcm(rgbSource, work, 'rgb-jpeg')
    const jpeg = convert(file, 'dcmcjpeg', ['+eb', '+sr'], v(file, 'jb'))
    const decoded = await decodeImage(read(jpeg), 'rgb-jb')
    const dcmtkDecoded = await decodeImage(
      read(convert(jpeg, 'dcmdjpeg', [], v(jpeg, 'plain'))),
      'rgb-dcmdjpeg',
    )
    expect(decoded.channels).toBe(3)
    // jpeg-js upsamples 4:2:2 chroma by replication, libjpeg by interpolation: a little further from the source
    expect(meanDiff(decoded, rgbSource)).toBeLessThan(1.5 * meanDiff(dcmtkDecoded, rgbSource))
    expect(meanDiff(decoded, rgbSource)).toBeLessThan(10)
  })

  it('JPEG-LS near-lossless (dcmcjpls +en, NEAR 2): no sample off by more than 2', async () => {
    for (const [decoded, source] of await each((f) => convert(f, 'dcmcjpls', ['+en'], v(f, 'jnl'))))
      expect(maxDiff(decoded, source)).toBeLessThanOrEqual(2)
  })
})

/**
 * dcmtk has no JPEG 2000 encoder: OpenJPEG's opj_compress (Debian's libopenjp2-tools) encodes the
 * source image, and the codestream replaces the one fragment of a dcmtk-made JPEG-LS file, whose
 * transfer syntax UID (…4.80) becomes JPEG 2000's (…4.90 lossless only, …4.91), the same length.
 */
function jpeg2000(i: number, ratio: number | undefined): Uint8Array {
  const s = sources[i] as Pixels
  const pgm = join(work, `j2k-${i}.pgm`)
  writeFileSync(pgm, Buffer.concat([Buffer.from(`P5\n${s.width} ${s.height}\n255\n`), Buffer.from(s.data)]))
  const j2k = join(work, `j2k-${i}-${ratio ?? 'lossless'}.j2k`)
  dcmtk('opj_compress', ['-i', pgm, '-o', j2k, '-n', '3', ...(ratio ? ['-r', String(ratio)] : [])])
  const container = Buffer.from(
    read(convert(base[i] as string, 'dcmcjpls', [], v(base[i] as string, 'j2k-container'))),
  )
  const header = Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0, 0, 0xff, 0xff, 0xff, 0xff]) // (7FE0,0010) OB, undefined length
  const at = container.indexOf(header)
  expect(at).toBeGreaterThan(0)
  const prefix = Buffer.from(
    container
      .subarray(0, at + header.length)
      .toString('latin1')
      .replace('1.2.840.10008.1.2.4.80', ratio ? '1.2.840.10008.1.2.4.91' : '1.2.840.10008.1.2.4.90'),
    'latin1',
  )
  let code = Buffer.from(read(j2k))
  if (code.length % 2 === 1) code = Buffer.concat([code, Buffer.from([0])])
  const item = (length: number) => {
    const b = Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0, 0, 0, 0])
    b.writeUInt32LE(length, 4)
    return b
  }
  const end = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0])
  return new Uint8Array(Buffer.concat([prefix, item(0), item(code.length), code, end]))
}

describe('JPEG 2000, encoded by OpenJPEG', () => {
  it('lossless (opj_compress -n 3, reversible 5/3) decodes to the source exactly', async () => {
    for (const [i, source] of sources.entries())
      expect(maxDiff(await decodeImage(jpeg2000(i, undefined), `j2k-${i}`), source)).toBe(0)
  })

  it('lossy at 5:1 (opj_compress -r 5) decodes to what opj_decompress makes of it, exactly', async () => {
    for (const [i, source] of sources.entries()) {
      const decoded = await decodeImage(jpeg2000(i, 5), `j2k-lossy-${i}`)
      const pgm = join(work, `j2k-${i}-5.pgm`)
      dcmtk('opj_decompress', ['-i', join(work, `j2k-${i}-5.j2k`), '-o', pgm])
      const reference = read(pgm)
      expect(
        maxDiff(decoded, { ...source, data: reference.subarray(reference.length - source.data.length) }),
      ).toBe(0)
      // and it is lossy: a 28x28 image at 5:1 loses about 10 levels on average
      expect(meanDiff(decoded, source)).toBeGreaterThan(0)
      expect(meanDiff(decoded, source)).toBeLessThan(20)
    }
  })
})

describe('bad input is refused with its reason, never a crash or a blank image', () => {
  it('a truncated file', async () => {
    const bytes = read(base[0] as string)
    const error = await decodeImage(bytes.subarray(0, bytes.length - 200), 'cut.dcm').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ImageError)
    expect((error as ImageError).reason).toMatch(/truncated/)
  })

  it('a truncated compressed file', async () => {
    const bytes = read(convert(base[0] as string, 'dcmcjpls', [], v(base[0] as string, 'cut-jls')))
    await expect(decodeImage(bytes.subarray(0, 400), 'cut-jls.dcm')).rejects.toThrow(
      /truncated|cannot be decoded/,
    )
  })

  it('an unsupported transfer syntax, named with its UID', async () => {
    // JPEG 2000 Part 2 (…4.92) has the length of JPEG baseline's UID (…4.50): patched in the meta header
    const bytes = read(convert(base[0] as string, 'dcmcjpeg', ['+eb'], v(base[0] as string, 'tsx')))
    const text = Buffer.from(bytes)
      .toString('latin1')
      .replace('1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.4.92')
    await expect(decodeImage(new Uint8Array(Buffer.from(text, 'latin1')), 'odd.dcm')).rejects.toThrow(
      /odd\.dcm: unsupported transfer syntax 1\.2\.840\.10008\.1\.2\.4\.92/,
    )
  })

  it('a photometric interpretation it does not render (PALETTE COLOR)', async () => {
    const file = modify(base[0] as string, v(base[0] as string, 'palette'), [
      'PhotometricInterpretation=PALETTE COLOR',
    ])
    await expect(decodeImage(read(file), 'palette.dcm')).rejects.toThrow(
      /palette\.dcm: unsupported photometric interpretation "PALETTE COLOR" with 1 sample\(s\) per pixel; expected MONOCHROME1 or MONOCHROME2/,
    )
  })

  it('a zero window width', async () => {
    const file = modify(base[0] as string, v(base[0] as string, 'w0'), ['WindowCenter=100', 'WindowWidth=0'])
    await expect(decodeImage(read(file), 'w0.dcm')).rejects.toThrow(/window width \(0028,1051\) is 0/)
  })

  it('pixel data whose length disagrees with rows and columns', async () => {
    const file = modify(base[0] as string, v(base[0] as string, 'rows'), ['Rows=29'])
    await expect(decodeImage(read(file), 'rows.dcm')).rejects.toThrow(
      /pixel data holds 784 bytes, but 1 frame\(s\) of 29 rows × 28 columns × 1 sample\(s\) at 8 bits need 812/,
    )
  })

  it('a compressed frame whose size disagrees with rows and columns', async () => {
    const jls = convert(base[0] as string, 'dcmcjpls', [], v(base[0] as string, 'jls-cols'))
    const file = modify(jls, v(jls, 'cols'), ['Columns=30'])
    await expect(decodeImage(read(file), 'cols.dcm')).rejects.toThrow(
      /the compressed frame is 28x28 .* header says 30x28/,
    )
  })
})
