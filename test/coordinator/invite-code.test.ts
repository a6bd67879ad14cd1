import { describe, expect, it } from 'vitest'
import { newInviteCode } from '../../coordinator/src/participants/invite.ts'
import { INVITE_CODE } from '../../protocol/src/index.ts'

describe('an enrolment code', () => {
  it('is 32 base64url characters that the protocol accepts', () => {
    for (let i = 0; i < 200; i++) {
      const code = newInviteCode()
      expect(code).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{31}$/)
      expect(INVITE_CODE.test(code)).toBe(true)
    }
  })

  it('never starts with "-", which a command line would read as an option: such a draw is drawn again', () => {
    // 0xf8 = 111110 00…: the first base64url character is the 63rd, "-"
    const draws = [new Uint8Array(24).fill(0xf8), new Uint8Array(24).fill(0x10)]
    let calls = 0
    const code = newInviteCode(() => draws[calls++] as Uint8Array)
    expect(Buffer.from(draws[0] as Uint8Array).toString('base64url')[0]).toBe('-')
    expect(calls).toBe(2)
    expect(code).toBe(Buffer.from(draws[1] as Uint8Array).toString('base64url'))
  })
})
