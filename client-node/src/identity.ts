import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The participant's long-term Ed25519 identity: a 32-byte seed in <cache>/identity/<name>.ed25519
 * (hex, readable by the owner only), created on first use and the same on every later run, so the
 * coordinator's enrolment recognises this participant. Its public key signs every secure round's key
 * advertisement. Losing the file means enrolling again under a new name.
 */
export function loadOrCreateIdentity(
  cacheDir: string,
  name: string,
): { seed: Uint8Array; created: boolean; file: string } {
  const dir = join(cacheDir, 'identity')
  const file = join(dir, `${name}.ed25519`)
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8').trim()
    if (!/^[0-9a-f]{64}$/.test(text))
      throw new Error(`${file}: expected the 64 hex digits of an Ed25519 seed; delete it to enrol anew`)
    return { seed: Uint8Array.from(Buffer.from(text, 'hex')), created: false, file }
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const seed = new Uint8Array(randomBytes(32))
  writeFileSync(`${file}.tmp`, `${Buffer.from(seed).toString('hex')}\n`, { mode: 0o600 })
  chmodSync(`${file}.tmp`, 0o600)
  renameSync(`${file}.tmp`, file)
  return { seed, created: true, file }
}
