import { scryptSync } from 'node:crypto'
import {
  hashPassword,
  PASSWORD_MIN_LENGTH,
  passwordProblem,
  verifyPassword,
} from '@fedtune/coordinator/operators'
import { describe, expect, it } from 'vitest'

describe('operator passwords', () => {
  it('are stored as scrypt$N$r$p$salt$hash with N = 2^15, r = 8, p = 1, a 16-byte salt and a 32-byte key', async () => {
    const salt = new Uint8Array(16).fill(7)
    const stored = await hashPassword('a long enough password', () => salt)
    const [kind, n, r, p, saltText, hash] = stored.split('$')
    expect([kind, n, r, p]).toEqual(['scrypt', '32768', '8', '1'])
    expect(Buffer.from(saltText as string, 'base64')).toEqual(Buffer.from(salt))
    // The same as node's scrypt computes directly (a known answer, so the format cannot drift).
    const expected = scryptSync('a long enough password', salt, 32, {
      N: 2 ** 15,
      r: 8,
      p: 1,
      maxmem: 64 * 2 ** 20,
    })
    expect(Buffer.from(hash as string, 'base64')).toEqual(expected)
  })

  it('verify the right password and refuse any other, and two hashes of one password differ (random salts)', async () => {
    const stored = await hashPassword('correct horse battery staple')
    expect(await verifyPassword('correct horse battery staple', stored)).toBe(true)
    expect(await verifyPassword('correct horse battery stapl', stored)).toBe(false)
    expect(await verifyPassword('', stored)).toBe(false)
    expect(await hashPassword('correct horse battery staple')).not.toBe(stored)
  })

  it('a hash made with other parameters still verifies, with the parameters it names', async () => {
    const salt = Buffer.alloc(16, 3)
    const key = scryptSync('made with older settings', salt, 32, { N: 2 ** 14, r: 8, p: 2 })
    const stored = `scrypt$16384$8$2$${salt.toString('base64')}$${key.toString('base64')}`
    expect(await verifyPassword('made with older settings', stored)).toBe(true)
    expect(await verifyPassword('made with newer settings', stored)).toBe(false)
  })

  it('a stored hash that is not one, or asks for unbounded work, is refused saying what was expected', async () => {
    for (const stored of [
      '',
      'bcrypt$x',
      'scrypt$33554432$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==',
      'scrypt$1000$8$1$a$b',
    ])
      await expect(verifyPassword('whatever password', stored)).rejects.toThrow(
        /^expected a stored password hash "scrypt\$N\$r\$p\$salt\$hash"/,
      )
  })

  it(`are at least ${PASSWORD_MIN_LENGTH} characters: a shorter one is refused with what was expected`, async () => {
    expect(passwordProblem('hunter2')).toBe('expected a password of at least 12 characters, got 7')
    expect(passwordProblem('twelve chars')).toBeNull()
    // Characters, not UTF-16 units: twelve emoji are twelve characters.
    expect(passwordProblem('🙂'.repeat(11))).toBe('expected a password of at least 12 characters, got 11')
    await expect(hashPassword('short')).rejects.toThrow(
      'expected a password of at least 12 characters, got 5',
    )
  })
})
