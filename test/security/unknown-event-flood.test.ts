import type { Socket } from 'socket.io-client'
import { describe, expect, it } from 'vitest'
import { challengeOf, connectTo, sayHello } from '../harness.ts'
import { type Attacked, settledMemory, startAttacked } from './attack-fixture.ts'

let coordinator: Attacked | undefined

async function joined(name: string): Promise<Socket> {
  const socket = connectTo(coordinator as Attacked)
  expect(await sayHello(socket, { participant: name })).toMatchObject({ ok: true })
  return socket
}

describe('unknown events', () => {
  it('a few unknown events are ignored and summarized in one line when the connection closes', async () => {
    coordinator = await startAttacked({ maxUnknownEvents: 10 })
    const socket = await joined('curious')
    for (let i = 0; i < 4; i++) socket.emit('status?', i)
    socket.emit('ping-me')
    // an event that is answered shows the unknown ones before it were read
    expect(await socket.emitWithAck('update', { round: 99 })).toMatchObject({ ok: false })
    socket.disconnect()
    const summary = await coordinator.line(/curious: closed; ignored/)
    expect(summary).toBe(
      'warning: curious: closed; ignored 5 events it may not send: status? (unknown) ×4, ping-me (unknown) ×1',
    )
    expect(coordinator.lines.filter((l) => l.includes('status?'))).toHaveLength(1)
  })

  it('20,000 unknown events: closed with unknown-events past the limit; the log grows by one line, not 20,000', async () => {
    coordinator = await startAttacked({ maxUnknownEvents: 10, eventsPerSecond: 100_000, eventBurst: 100_000 })
    const before = await settledMemory()
    const logged = coordinator.lines.join('\n').length
    const socket = await joined('flooder')
    const refused = new Promise<{ code: string; reason: string }>((resolve) =>
      socket.once('refused', resolve),
    )
    for (let i = 0; i < 20_000; i++) socket.emit(`junk-${i % 3}`, i)
    expect(await refused).toMatchObject({
      code: 'unknown-events',
      reason: expect.stringMatching(
        /^expected at most 10 events it may not send .*, got 11: junk-0 \(unknown\) ×4/,
      ),
    })
    await new Promise((resolve) => socket.once('disconnect', resolve))
    await coordinator.line(/^left: flooder/)
    const grown = coordinator.lines.join('\n').length - logged
    expect(grown).toBeLessThan(1000)
    expect(coordinator.lines.filter((l) => l.includes('flooder'))).toEqual([
      'joined: flooder (test)',
      expect.stringMatching(/^warning: flooder: closing the connection: unknown-events: /),
      expect.stringMatching(/^left: flooder \(/),
    ])
    expect(await settledMemory()).toBeLessThan(before * 1.1)
    await joined('next')
  })

  it('before hello, known events count too: an update is answered no-hello, and past the limit the connection closes', async () => {
    coordinator = await startAttacked({ maxUnknownEvents: 3 })
    const socket = connectTo(coordinator)
    await challengeOf(socket)
    expect(await socket.emitWithAck('update', { round: 1 })).toMatchObject({ ok: false, code: 'no-hello' })
    const refused = new Promise((resolve) => socket.once('refused', resolve))
    for (let i = 0; i < 3; i++) socket.emit('secagg', { stage: 'advertise' }, () => {})
    expect(await refused).toMatchObject({ code: 'unknown-events' })
  })
})
