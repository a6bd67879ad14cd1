import { describe, expect, it } from 'vitest'
import { connectTo, sayHello } from '../harness.ts'
import { rawSocket, settledMemory, startAttacked } from './attack-fixture.ts'

describe('a connection that never says hello announces a binary event with 1,000,000 attachments', () => {
  it('is closed with no-hello at the header, before one attachment is kept; memory returns to its level before and a participant still joins', async () => {
    const coordinator = await startAttacked()
    const before = await settledMemory()
    const attacker = await rawSocket(coordinator.url)
    attacker.packet('51000000-["secagg",{"x":{"_placeholder":true,"num":0}}]')
    // what the attacker of the review streamed: frames of 64 KiB, as fast as the socket takes them
    const frame = new Uint8Array(64 * 1024).fill(7)
    const stream = setInterval(() => {
      for (let i = 0; i < 16 && attacker.ws.readyState === attacker.ws.OPEN; i++) attacker.binary(frame)
    }, 1)
    const refused = await attacker.event('refused')
    await attacker.closed
    clearInterval(stream)
    expect(refused[1]).toMatchObject({ ok: false, code: 'no-hello' })
    expect(String((refused[1] as { reason: string }).reason)).toMatch(
      /secagg: expected at most 0 attachments before hello, got 1000000 announced/,
    )
    expect(await coordinator.line(/closing the connection: no-hello/)).toMatch(/from 127\.0\.0\.1/)
    expect(coordinator.lines.filter((l) => l.includes('no-hello'))).toHaveLength(1)

    const after = await settledMemory()
    expect(after).toBeLessThan(before * 1.1)

    const participant = connectTo(coordinator)
    try {
      expect(await sayHello(participant, { participant: 'after-the-attack' })).toMatchObject({ ok: true })
    } finally {
      participant.disconnect()
    }
  })

  it('a hello announcing more than its two attachments is refused with too-large', async () => {
    const coordinator = await startAttacked()
    const attacker = await rawSocket(coordinator.url)
    attacker.packet('53-["hello",{}]')
    const refused = await attacker.event('refused')
    expect(refused[1]).toMatchObject({ ok: false, code: 'too-large' })
    expect(String((refused[1] as { reason: string }).reason)).toMatch(
      /hello: expected at most 2 attachments, got 3/,
    )
    await attacker.closed
  })

  it('before even joining socket.io’s namespace, the same header costs the connection', async () => {
    const coordinator = await startAttacked()
    const attacker = await rawSocket(coordinator.url, false)
    attacker.packet('51000000-["hello",{}]')
    await attacker.closed
    expect(await coordinator.line(/closing the connection: too-large/)).toMatch(/got 1000000 announced/)
  })
})
