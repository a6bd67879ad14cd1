import { describe, expect, it } from 'vitest'
import { connectTo, sayHello } from '../harness.ts'
import { rawSocket, startAttacked } from './attack-fixture.ts'

/**
 * Frames that break socket.io's framing. The bounded decoder (coordinator/src/sockets/bounded-parser.ts)
 * throws on each; socket.io closes the connection. Each must cost only its connection, with the
 * reason logged once.
 */
const CASES: readonly [string, (raw: Awaited<ReturnType<typeof rawSocket>>) => void, RegExp][] = [
  [
    'a binary frame with no header before it (packed, with an empty header)',
    (r) => r.binary(new Uint8Array(8)),
    /malformed: packed frame: expected a binary packet's header \("5<n>-…"\), got ""/,
  ],
  [
    'a text frame where an announced attachment should be',
    (r) => {
      r.packet('51-["hello",{"identityKey":{"_placeholder":true,"num":0}}]')
      r.packet('2["hello"]')
    },
    /malformed: hello: expected attachment 1 of 1, got a text frame/,
  ],
  [
    'a placeholder pointing past the attachments',
    (r) => {
      r.packet('51-["hello",{"identityKey":{"_placeholder":true,"num":5}}]')
      r.binary(new Uint8Array(32))
    },
    /malformed: socket\.io packet: expected a placeholder for attachment 0–0, got number 5/,
  ],
  [
    'an unknown packet type',
    (r) => r.packet('9["hello"]'),
    /malformed: socket\.io packet: expected a type 0–6, got "9\[/,
  ],
  [
    'a payload that is not JSON',
    (r) => r.packet('2["hello",{'),
    /malformed: socket\.io packet: expected JSON after the header/,
  ],
  [
    'an event named as socket.io reserves',
    (r) => r.packet('2["disconnect"]'),
    /malformed: socket\.io packet of type 2: unexpected payload/,
  ],
  [
    'an attachment count that is not a number',
    (r) => r.packet('5x-["hello"]'),
    /malformed: socket\.io packet: expected an attachment count and "-"/,
  ],
]

describe('malformed socket.io frames', () => {
  for (const [what, send, logged] of CASES)
    it(`${what}: the connection is closed with malformed, logged once, and the coordinator still serves`, async () => {
      const coordinator = await startAttacked()
      const raw = await rawSocket(coordinator.url)
      send(raw)
      await raw.closed
      const line = await coordinator.line(/closing the connection: malformed/)
      expect(line).toMatch(logged)
      expect(coordinator.lines.filter((l) => l.includes('malformed'))).toHaveLength(1)
      const participant = connectTo(coordinator)
      try {
        expect(await sayHello(participant, { participant: 'still-served' })).toMatchObject({ ok: true })
      } finally {
        participant.disconnect()
      }
    })
})
