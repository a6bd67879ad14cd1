import { execFileSync } from 'node:child_process'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Pixels } from '@fedtune/model'

/**
 * DICOM files made by an independent tool, Debian's dcmtk: img2dcm from a BMP of the source pixels
 * (img2dcm reads BMP and JPEG, not PNG), then dcmtk's own converters and compressors per variant.
 */

/** Runs a dcmtk tool; its stderr comes with the failure. */
export function dcmtk(tool: string, args: readonly string[]): void {
  execFileSync(tool, args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

/** An uncompressed bottom-up BMP: 8-bit with a gray palette for 1 channel, 24-bit BGR for 3. */
export function bmp(p: Pixels): Uint8Array {
  const bpp = p.channels === 1 ? 8 : 24
  const row = Math.ceil((p.width * bpp) / 8 / 4) * 4
  const palette = p.channels === 1 ? 1024 : 0
  const offset = 14 + 40 + palette
  const out = Buffer.alloc(offset + row * p.height)
  out.write('BM', 0, 'latin1')
  out.writeUInt32LE(out.length, 2)
  out.writeUInt32LE(offset, 10)
  out.writeUInt32LE(40, 14)
  out.writeInt32LE(p.width, 18)
  out.writeInt32LE(p.height, 22)
  out.writeUInt16LE(1, 26)
  out.writeUInt16LE(bpp, 28)
  out.writeUInt32LE(row * p.height, 34)
  if (p.channels === 1) {
    out.writeUInt32LE(256, 46)
    for (let i = 0; i < 256; i++) out.writeUInt32LE(i * 0x010101, 54 + i * 4)
  }
  for (let y = 0; y < p.height; y++)
    for (let x = 0; x < p.width; x++) {
      const at = offset + (p.height - 1 - y) * row
      const i = (y * p.width + x) * p.channels
      if (p.channels === 1) out[at + x] = p.data[i] as number
      else for (let c = 0; c < 3; c++) out[at + x * 3 + c] = p.data[i + 2 - c] as number
    }
  return out
}

/** `img2dcm` of the pixels: MONOCHROME2 8-bit for gray, RGB 8-bit for colour, explicit VR little endian. */
export function img2dcm(p: Pixels, dir: string, name: string): string {
  const source = join(dir, `${name}.bmp`)
  writeFileSync(source, bmp(p))
  const out = join(dir, `${name}.dcm`)
  dcmtk('img2dcm', ['-i', 'BMP', source, out])
  return out
}

/** A copy of `file` put through one dcmtk tool (`dcmcjpls`, `dcmcrle`, `dcmconv +ti`, …). */
export function convert(file: string, tool: string, args: readonly string[], out: string): string {
  dcmtk(tool, [...args, file, out])
  return out
}

/** A copy of `file` with attributes inserted or replaced by `dcmodify -i` (and `-if` for tag=file). */
export function modify(
  file: string,
  out: string,
  insert: readonly string[],
  fromFile: readonly string[] = [],
): string {
  copyFileSync(file, out)
  dcmtk('dcmodify', ['-nb', ...insert.flatMap((i) => ['-i', i]), ...fromFile.flatMap((i) => ['-if', i]), out])
  return out
}

export const read = (file: string) => new Uint8Array(readFileSync(file))
