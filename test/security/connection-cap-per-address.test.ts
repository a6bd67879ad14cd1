import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { connectTo, sayHello } from '../harness.ts'
import { type RawSocket, rawSocket, settledMemory, startAttacked } from './attack-fixture.ts'

const raws: RawSocket[] = []
afterEach(async () => {
  for (const r of raws.splice(0)) r.ws.close()
})

/** The upgrade's answer when the coordinator refuses it: status and body. */
function refusedUpgrade(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`)
    ws.once('open', () => reject(new Error('the upgrade was accepted')))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString()
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    ws.once('error', () => {})
  })
}

describe('one address opening more connections than the cap', () => {
  it('the connection past the cap is refused at the upgrade with too-many-connections; one closing makes room again', async () => {
    const coordinator = await startAttacked({ maxConnectionsPerAddress: 3 })
    const before = await settledMemory()
    for (let i = 0; i < 3; i++) raws.push(await rawSocket(coordinator.url))
    for (let i = 0; i < 5; i++)
      expect(await refusedUpgrade(coordinator.url)).toEqual({
        status: 400,
        body: 'too-many-connections: expected at most 3 open connections from 127.0.0.1, got one more',
      })
    // one line for the whole burst of refusals
    expect(coordinator.lines.filter((l) => l.includes('too-many-connections'))).toHaveLength(1)
    const first = raws.shift() as RawSocket
    first.ws.close()
    await first.closed
    expect(await coordinator.line(/127\.0\.0\.1: 5 connections refused over the cap of 3/)).toBeTruthy()
    for (const r of raws.splice(0)) {
      r.ws.close()
      await r.closed
    }
    expect(await settledMemory()).toBeLessThan(before * 1.1)
    // the address has its places back (as each TCP socket closes): a participant joins
    const participant = connectTo(coordinator, 'packed', { reconnection: true, reconnectionDelay: 50 })
    try {
      expect(await sayHello(participant, { participant: 'from-the-same-host' })).toMatchObject({ ok: true })
    } finally {
      participant.disconnect()
    }
  })
})
