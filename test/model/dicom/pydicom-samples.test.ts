import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Pixels } from '@fedtune/model'
import { decodeImage, ImageError } from '@fedtune/model/node'
import { afterAll, describe, expect, it } from 'vitest'

/**
 * The sample files Debian's python3-pydicom ships (their provenance is in README.txt beside them):
 * each decodes to what another encoding of the same image decodes to, to what dcmtk's dcm2pnm
 * renders, or is skipped with its exact reason.
 */
const samples = '/usr/lib/python3/dist-packages/pydicom/data/test_files/'
const work = mkdtempSync(join(tmpdir(), 'fedtune-pydicom-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const decode = (name: string) => decodeImage(new Uint8Array(readFileSync(join(samples, name))), name)

function diff(a: Pixels, b: Pixels): { max: number; mean: number } {
  expect([a.width, a.height, a.channels]).toEqual([b.width, b.height, b.channels])
  let max = 0
  let sum = 0
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs((a.data[i] as number) - (b.data[i] as number))
    max = Math.max(max, d)
    sum += d
  }
  return { max, mean: sum / a.data.length }
}

/** dcmtk's rendering (dcm2pnm, 8-bit PGM or PPM) with the given VOI option. */
function dcm2pnm(name: string, voi: readonly string[], like: Pixels): Pixels {
  const out = join(work, `${name}.pnm`)
  execFileSync('dcm2pnm', [...voi, join(samples, name), out], { stdio: ['ignore', 'ignore', 'pipe'] })
  const bytes = new Uint8Array(readFileSync(out))
  return { ...like, data: bytes.subarray(bytes.length - like.data.length) }
}

describe('the same image in other encodings decodes to the same pixels', () => {
  const exact: [string, string[]][] = [
    [
      'MR_small.dcm',
      [
        'MR_small_implicit.dcm',
        'MR_small_bigendian.dcm',
        'MR_small_expb.dcm',
        'MR_small_RLE.dcm',
        'MR_small_jpeg_ls_lossless.dcm',
        'MR_small_jp2klossless.dcm',
      ],
    ],
    [
      'SC_rgb_rle.dcm',
      [
        'SC_rgb_rle_16bit.dcm',
        'SC_rgb_rle_32bit.dcm',
        'SC_rgb_rle_2frame.dcm',
        'SC_rgb_rle_16bit_2frame.dcm',
        'SC_rgb_rle_32bit_2frame.dcm',
        'SC_rgb_jpeg_gdcm.dcm',
        'SC_rgb_gdcm_KY.dcm',
      ],
    ],
    [
      'rtdose_1frame.dcm',
      ['rtdose.dcm', 'rtdose_expb.dcm', 'rtdose_expb_1frame.dcm', 'rtdose_rle.dcm', 'rtdose_rle_1frame.dcm'],
    ],
  ]
  for (const [reference, others] of exact)
    it(`${others.join(', ')} equal ${reference} exactly (lossless; multi-frame files at frame 1)`, async () => {
      const expected = await decode(reference)
      for (const name of others) expect(diff(await decode(name), expected).max, name).toBe(0)
    })

  it('the lossy JPEG and subsampled YBR versions of SC_rgb stay within 8 levels of it, under 1 on average', async () => {
    const expected = await decode('SC_rgb_rle.dcm')
    for (const name of [
      'SC_ybr_full_422_uncompressed.dcm',
      'SC_rgb_dcmtk_+eb+cr.dcm',
      'SC_rgb_dcmtk_+eb+cy+n1.dcm',
      'SC_rgb_dcmtk_+eb+cy+n2.dcm',
      'SC_rgb_dcmtk_+eb+cy+np.dcm',
      'SC_rgb_dcmtk_+eb+cy+s2.dcm',
      'SC_rgb_dcmtk_+eb+cy+s4.dcm',
      'SC_rgb_jpeg_dcmtk.dcm',
      // photometric RGB, but YCbCr by its component ids 1, 2, 3 (as libjpeg reads it)
      'SC_rgb_jpeg_lossy_gdcm.dcm',
    ]) {
      const d = diff(await decode(name), expected)
      expect(d.max, name).toBeLessThanOrEqual(8)
      expect(d.mean, name).toBeLessThan(1)
    }
  })

  it('a JPEG whose RGB components were not transformed to YCbCr is read as RGB', async () => {
    const d = diff(await decode('SC_jpeg_no_color_transform.dcm'), await decode('SC_rgb_jpeg_dcmd.dcm'))
    expect(d.max).toBeLessThanOrEqual(1)
  })
})

describe('grayscale mapping agrees with dcmtk (dcm2pnm) to rounding', () => {
  it('MR_small through its first window (+Wi 1)', async () => {
    const p = await decode('MR_small.dcm')
    expect(diff(p, dcm2pnm('MR_small.dcm', ['+Wi', '1'], p)).max).toBeLessThanOrEqual(1)
  })

  it('CT_small, which has no window, from its smallest to its largest value (+Wm)', async () => {
    const p = await decode('CT_small.dcm')
    expect(diff(p, dcm2pnm('CT_small.dcm', ['+Wm'], p)).max).toBeLessThanOrEqual(1)
  })

  it('image_dfl (deflated, 8 bits) and ExplVR_BigEnd (big endian RGB) exactly as stored', async () => {
    for (const name of ['image_dfl.dcm', 'ExplVR_BigEnd.dcm']) {
      const p = await decode(name)
      expect(diff(p, dcm2pnm(name, [], p)).max, name).toBe(0)
    }
  })
})

describe('files that are not decodable images are skipped with their reason', () => {
  const reasons: [string, RegExp][] = [
    ['MR_truncated.dcm', /^DICOM file is truncated: its pixel data needs 8192 bytes, only 8130 are there$/],
    ['rtplan_truncated.dcm', /^DICOM file cannot be parsed, probably truncated/],
    [
      'MR_small_padded.dcm',
      /^pixel data holds 8320 bytes, but 1 frame\(s\) of 64 rows × 64 columns × 1 sample\(s\) at 16 bits need 8192$/,
    ],
    ['JPEG-lossy.dcm', /^12-bit lossy JPEG \(extended process 4\) is not supported; only 8-bit$/],
    ['JPGExtended.dcm', /^12-bit lossy JPEG/],
    ['liver_1frame.dcm', /^unsupported bits allocated 1; expected 8, 16 or 32$/],
    ['badVR.dcm', /^number of frames "1A"; expected a positive integer$/],
    ['rtplan.dcm', /^DICOM file holds no pixel data \(7FE0,0010\): not an image$/],
    ['test-SR.dcm', /^DICOM file holds no pixel data/],
    ['waveform_ecg.dcm', /^DICOM file holds no pixel data/],
    ['meta_missing_tsyntax.dcm', /missing required meta header attribute 0002,0010/],
    [
      'JPEG2000-embedded-sequence-delimiter.dcm',
      /^the compressed frame is 0x0 with 0 component\(s\), but the header says 256x1024 with 1$/,
    ],
    // no 128-byte preamble and "DICM": not recognised as DICOM at all
    ['no_meta.dcm', /^expected a PNG, JPEG or DICOM image, but the file starts with/],
    ['ExplVR_LitEndNoMeta.dcm', /^expected a PNG, JPEG or DICOM image/],
  ]
  for (const [name, reason] of reasons)
    it(name, async () => {
      const error = await decode(name).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ImageError)
      expect((error as ImageError).reason).toMatch(reason)
    })
})
