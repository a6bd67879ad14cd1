import type { BackboneFile } from './messages.ts'

/**
 * The text whose SHA-256 is a backbone's digest: one `sha256sum`-style line per file
 * ("<hex>  <name>\n"), model.json first, then the weight files in the order model.json lists them.
 * A digest over per-file hashes lets a participant verify each file as it arrives and the whole
 * model with one value from the task file; `sha256sum` reproduces it by hand.
 */
export function backboneListing(files: readonly Pick<BackboneFile, 'name' | 'sha256'>[]): string {
  return files.map((f) => `${f.sha256}  ${f.name}\n`).join('')
}
