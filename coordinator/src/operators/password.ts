import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

/** Passwords shorter than this are refused: with scrypt's cost, 12 characters put guessing out of reach. */
export const PASSWORD_MIN_LENGTH = 12
/** Longer passwords are refused, so a request cannot make scrypt hash megabytes. */
export const PASSWORD_MAX_LENGTH = 1024

/**
 * scrypt's cost: N = 2^15, r = 8, p = 1 uses 128·N·r = 32 MiB and ~0.1 s per hash (RFC 7914 §2; the
 * parameters OWASP's Password Storage Cheat Sheet gives for scrypt).
 */
export const SCRYPT = { N: 2 ** 15, r: 8, p: 1, saltBytes: 16, keyBytes: 32 } as const

/** The largest N a stored hash may name: verifying one costs at most 128·2^20·r bytes, never unbounded. */
const MAX_N = 2 ** 20

/** Why `password` may not be used (what was expected, what arrived), or null when it may. */
export function passwordProblem(password: string): string | null {
  const length = [...password].length
  if (length < PASSWORD_MIN_LENGTH)
    return `expected a password of at least ${PASSWORD_MIN_LENGTH} characters, got ${length}`
  if (length > PASSWORD_MAX_LENGTH)
    return `expected a password of at most ${PASSWORD_MAX_LENGTH} characters, got ${length}`
  return null
}

function scryptKey(
  password: string,
  salt: Uint8Array,
  p: { readonly N: number; readonly r: number; readonly p: number; readonly keyBytes: number },
): Promise<Buffer> {
  // node refuses work above maxmem (32 MiB by default, exactly what N = 2^15, r = 8 needs): give it room.
  const maxmem = 2 * 128 * p.N * p.r * p.p
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, p.keyBytes, { N: p.N, r: p.r, p: p.p, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  )
}

/**
 * The stored form of a password: `scrypt$N$r$p$salt$hash`, salt and hash in base64, so a hash keeps
 * the parameters it was made with and verifies after the defaults change. A weak password throws.
 */
export async function hashPassword(
  password: string,
  random: (n: number) => Uint8Array = randomBytes,
): Promise<string> {
  const problem = passwordProblem(password)
  if (problem !== null) throw new RangeError(problem)
  const salt = random(SCRYPT.saltBytes)
  const key = await scryptKey(password, salt, SCRYPT)
  return [
    'scrypt',
    SCRYPT.N,
    SCRYPT.r,
    SCRYPT.p,
    Buffer.from(salt).toString('base64'),
    key.toString('base64'),
  ].join('$')
}

type Parsed = { N: number; r: number; p: number; salt: Buffer; hash: Buffer }

function parseStored(stored: string): Parsed {
  const parts = stored.split('$')
  const [kind, n, r, p, salt, hash] = parts
  const int = (text: string | undefined) =>
    text !== undefined && /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : 0
  const N = int(n)
  const parsed = {
    N,
    r: int(r),
    p: int(p),
    salt: Buffer.from(salt ?? '', 'base64'),
    hash: Buffer.from(hash ?? '', 'base64'),
  }
  if (
    parts.length !== 6 ||
    kind !== 'scrypt' ||
    N < 2 ||
    N > MAX_N ||
    (N & (N - 1)) !== 0 ||
    parsed.r < 1 ||
    parsed.r > 32 ||
    parsed.p < 1 ||
    parsed.p > 16 ||
    parsed.salt.length < 8 ||
    parsed.hash.length < 16 ||
    parsed.hash.length > 64
  )
    throw new RangeError(
      'expected a stored password hash "scrypt$N$r$p$salt$hash" (N a power of two up to 2^20, r ≤ 32, p ≤ 16, base64 salt and hash), got something else',
    )
  return parsed
}

/** Whether `password` is the one `stored` was made from; compared in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const p = parseStored(stored)
  if ([...password].length > PASSWORD_MAX_LENGTH) return false
  const key = await scryptKey(password, p.salt, { N: p.N, r: p.r, p: p.p, keyBytes: p.hash.length })
  return timingSafeEqual(key, p.hash)
}

/**
 * A hash of a password nobody has, made once: a sign-in under an unknown name verifies against it, so
 * it takes as long as one under a known name and the answer's timing does not tell which names exist.
 */
let decoy: Promise<string> | undefined
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(24).toString('base64'))
  return decoy
}
