import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PNG } from 'pngjs'

/**
 * A hospital's image folder of `perLabel` small PNGs under each of `labels` (one brightness per
 * label, a little noise): enough for the client to embed, split and train one round on.
 */
export function writeImageFolder(dir: string, labels: readonly string[], perLabel = 6): string {
  labels.forEach((label, l) => {
    mkdirSync(join(dir, label), { recursive: true })
    for (let i = 0; i < perLabel; i++) {
      const png = new PNG({ width: 16, height: 16 })
      for (let p = 0; p < 16 * 16; p++) {
        const value = (l * 160 + ((p * 31 + i * 17) % 60)) & 0xff
        png.data.set([value, value, value, 255], p * 4)
      }
      writeFileSync(join(dir, label, `${i}.png`), PNG.sync.write(png))
    }
  })
  return dir
}
