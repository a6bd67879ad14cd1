import { secureVectorLength } from '@fedtune/protocol'
import type { Socket } from 'socket.io-client'
import { describe, expect, it } from 'vitest'
import { connectTo, sayHello } from '../harness.ts'
import { type Attacked, settledMemory, startAttacked } from './attack-fixture.ts'

let coordinator: Attacked | undefined

async function joined(name: string, framing: 'packed' | 'v5' = 'packed'): Promise<Socket> {
  const socket = connectTo(coordinator as Attacked, framing)
  expect(await sayHello(socket, { participant: name })).toMatchObject({ ok: true })
  return socket
}

const refusedOf = (socket: Socket) =>
  new Promise<{ code: string; reason: string }>((resolve) => socket.once('refused', resolve))

describe('a joined participant sends a secagg message larger than any stage can carry', () => {
  it('60 attachments totalling 4.2 MB as one share-keys message, framed as socket.io v5 does: refused with too-large at its header; memory returns and the others go on', async () => {
    coordinator = await startAttacked()
    const honest = await joined('honest')
    const before = await settledMemory()
    const attacker = await joined('attacker', 'v5')
    const refused = refusedOf(attacker)
    // built in the call, so that afterwards only the coordinator could still hold it
    attacker.emit(
      'secagg',
      {
        taskId: 'attacked',
        round: 1,
        stage: 'share-keys',
        shares: Array.from({ length: 60 }, () => ({ to: 'x', ciphertext: new Uint8Array(70_000) })),
      },
      () => {},
    )
    const refusal = await refused
    expect(refusal.code).toBe('too-large')
    // share-keys carries its sealed shares as records in one field: 60 attachments are refused at the header
    expect(refusal.reason).toMatch(
      /^secagg "share-keys": expected at most \d+ attachments, got 60 announced$/,
    )
    await new Promise((resolve) => attacker.once('disconnect', resolve))
    expect(await coordinator.line(/attacker: closing the connection: too-large/)).toBeTruthy()
    expect(await settledMemory()).toBeLessThan(before * 1.1)
    expect(honest.connected).toBe(true)
    await joined('latecomer')
  })

  it('the same 4.2 MB packed into one frame: cut at the frame size limit before it is decoded; memory returns and the others go on', async () => {
    coordinator = await startAttacked()
    const honest = await joined('honest')
    const before = await settledMemory()
    const attacker = await joined('attacker')
    const gone = new Promise<string>((resolve) => attacker.once('disconnect', resolve))
    attacker.emit(
      'secagg',
      {
        taskId: 'attacked',
        round: 1,
        stage: 'share-keys',
        shares: Array.from({ length: 60 }, () => ({ to: 'x', ciphertext: new Uint8Array(70_000) })),
      },
      () => {},
    )
    expect(await gone).toBe('transport close')
    expect(await coordinator.line(/left: attacker \(transport error\)/)).toBeTruthy()
    expect(await settledMemory()).toBeLessThan(before * 1.1)
    expect(honest.connected).toBe(true)
    await joined('latecomer')
  })

  it('one masked input larger than the secure vector: refused at that attachment, with the bound and what arrived', async () => {
    coordinator = await startAttacked()
    const attacker = await joined('attacker')
    const refused = refusedOf(attacker)
    attacker.emit(
      'secagg',
      { taskId: 'attacked', round: 1, stage: 'masked-input', masked: new Uint8Array(70_000) },
      () => {},
    )
    const dim = secureVectorLength(coordinator.running.federation.task.paramCount, 2) * 4
    const refusal = await refused
    expect(refusal.code).toBe('too-large')
    expect(refusal.reason).toMatch(
      new RegExp(
        `^secagg "masked-input": expected at most ${dim + 1024} bytes, got \\d+ by attachment 1 of 1$`,
      ),
    )
  })

  it('a secagg message of an unknown stage may carry no attachment at all', async () => {
    coordinator = await startAttacked()
    const attacker = await joined('attacker')
    const refused = refusedOf(attacker)
    attacker.emit('secagg', { stage: 'made-up', blob: new Uint8Array(10) }, () => {})
    expect(await refused).toMatchObject({
      code: 'too-large',
      reason: expect.stringMatching(/expected at most 0 attachments, got 1/),
    })
  })
})
