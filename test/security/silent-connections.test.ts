import { packedParser } from '@fedtune/protocol'
import { io as connect } from 'socket.io-client'
import { describe, expect, it } from 'vitest'
import { connectTo, sayHello } from '../harness.ts'
import { type Attacked, rawSocket, settledMemory, startAttacked } from './attack-fixture.ts'

let coordinator: Attacked | undefined

describe('connections that never say hello', () => {
  it('200 sockets that never say hello are each closed with hello-timeout, logged once each; memory returns and a participant still joins', async () => {
    coordinator = await startAttacked({ helloTimeoutMs: 500, maxConnectionsPerAddress: 250 })
    const before = await settledMemory()
    // every engine.io connection the coordinator opens, closed on its side
    let open = 0
    const allClosed = new Promise<void>((resolve) =>
      (coordinator as Attacked).running.io.engine.on(
        'connection',
        (conn: { once(e: 'close', f: () => void): void }) => {
          open++
          conn.once('close', () => {
            if (--open === 0) resolve()
          })
        },
      ),
    )
    const refusals: unknown[] = []
    const silent = Array.from({ length: 200 }, () => {
      // not kept once closed: the heap measured below is this process's, the attackers' sockets included
      const socket = connect((coordinator as Attacked).url, {
        transports: ['websocket'],
        parser: packedParser,
        reconnection: false,
      })
      socket.once('refused', (r) => refusals.push(r))
      // closed before or after socket.io's namespace was joined, on a machine as slow as it may be
      return new Promise((resolve) => {
        socket.once('disconnect', resolve)
        socket.once('connect_error', resolve)
      })
    })
    await Promise.all(silent)
    await allClosed
    const logged = coordinator.lines.filter((l) => l.includes('hello-timeout'))
    expect(logged).toHaveLength(200)
    for (const line of logged)
      expect(line).toMatch(
        /^warning: connection \S+ from 127\.0\.0\.1: closing the connection: hello-timeout: expected a hello within 500 ms of connecting, got nothing$/,
      )
    expect(refusals.length).toBeGreaterThan(0)
    for (const r of refusals)
      expect(r).toEqual({
        ok: false,
        code: 'hello-timeout',
        reason: 'expected a hello within 500 ms of connecting, got nothing',
      })
    expect(await settledMemory()).toBeLessThan(before * 1.1)

    const participant = connectTo(coordinator)
    expect(await sayHello(participant, { participant: 'on-time' })).toMatchObject({ ok: true })
    await coordinator.line(/joined: on-time/)
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
