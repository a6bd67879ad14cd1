import { io as connect, type Socket } from 'socket.io-client'
import { afterEach, describe, expect, it } from 'vitest'
import { challengeOf, sayHello } from '../coordinator/hello.ts'
import { type Attacked, rawSocket, settledMemory, startAttacked } from './attack-fixture.ts'

let coordinator: Attacked | undefined
const sockets: Socket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect()
  await coordinator?.close()
  coordinator = undefined
})

describe('connections that never say hello', () => {
  it('200 sockets that never say hello are each closed with hello-timeout, logged once each; memory returns and a participant still joins', async () => {
    coordinator = await startAttacked({ helloTimeoutMs: 300, maxConnectionsPerAddress: 250 })
    const before = await settledMemory()
    const silent = Array.from({ length: 200 }, () => {
      const socket = connect((coordinator as Attacked).url, {
        transports: ['websocket'],
        reconnection: false,
      })
      sockets.push(socket)
      return socket
    })
    const refusals = await Promise.all(
      silent.map(
        (s) => new Promise<{ code: string; reason: string }>((resolve) => s.once('refused', resolve)),
      ),
    )
    await Promise.all(silent.map((s) => (s.connected ? new Promise((r) => s.once('disconnect', r)) : null)))
    for (const r of refusals)
      expect(r).toMatchObject({
        code: 'hello-timeout',
        reason: 'expected a hello within 300 ms of connecting, got nothing',
      })
    expect(coordinator.lines.filter((l) => l.includes('hello-timeout'))).toHaveLength(200)
    expect(coordinator.running.io.of('/').sockets.size).toBe(0)
    expect(await settledMemory()).toBeLessThan(before * 1.1)

    const participant = connect(coordinator.url, { transports: ['websocket'], reconnection: false })
    sockets.push(participant)
    challengeOf(participant)
    expect(await sayHello(participant, { participant: 'on-time' })).toMatchObject({ ok: true })
    // joined in time: the hello timeout no longer applies to it
    await coordinator.line(/joined: on-time/)
    expect(participant.connected).toBe(true)
  })

  it('a websocket that never even joins socket.io’s namespace is closed by the same timeout', async () => {
    coordinator = await startAttacked({ helloTimeoutMs: 200 })
    const raw = await rawSocket(coordinator.url, false)
    await raw.closed
    expect(await coordinator.line(/closing the connection: hello-timeout/)).toMatch(
      /connection \S+ from 127\.0\.0\.1: closing the connection: hello-timeout: expected a hello within 200 ms of connecting, got nothing/,
    )
  })
})
