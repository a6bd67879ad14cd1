import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** Every API token starts with this, so a leaked one is recognisable (by secret scanners, and by people). */
export const API_TOKEN_PREFIX = 'ftk_'

/** 32 random bytes, base64url: a session cookie, a CSRF token, or (prefixed) an API token. */
export function newSecret(prefix = '', random: (n: number) => Uint8Array = randomBytes): string {
  return prefix + Buffer.from(random(32)).toString('base64url')
}

/** What the store keeps of a secret: its SHA-256, hex. A secret of 256 random bits needs no salt or stretching. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}

/** Whether `secret` hashes to `hash`, compared in constant time. */
export function matchesHash(secret: string, hash: string): boolean {
  const a = Buffer.from(secretHash(secret), 'hex')
  const b = Buffer.from(hash, 'hex')
  return a.length === b.length && timingSafeEqual(a, b)
}
