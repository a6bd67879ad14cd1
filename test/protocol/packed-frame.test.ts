import {
  PackedDecoder,
  PackedEncoder,
  ProtocolError,
  packFrame,
  sharedPayload,
  unpackFrame,
} from '@fedtune/protocol'
import fc from 'fast-check'
import { Encoder, type Packet, PacketType } from 'socket.io-parser'
import { describe, expect, it } from 'vitest'

const packet = (data: unknown[], id?: number): Packet => ({
  type: PacketType.EVENT,
  nsp: '/',
  data,
  ...(id === undefined ? {} : { id }),
})

function decodeAll(chunks: unknown[]): Packet[] {
  const decoder = new PackedDecoder()
  const out: Packet[] = []
  decoder.on('decoded', (p: Packet) => out.push(p))
  for (const chunk of chunks) decoder.add(chunk)
  return out
}

describe('a packed frame: one socket.io binary event in one websocket frame', () => {
  it('holds the v5 header and each attachment, length-prefixed, and gives them back', () => {
    const frame = packFrame('52-["e",1]', [new Uint8Array([1, 2, 3]), new Uint8Array(0)])
    expect([...frame]).toEqual([10, 0, 0, 0, ...Buffer.from('52-["e",1]'), 3, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0])
    const { header, attachments } = unpackFrame(frame)
    expect(header).toBe('52-["e",1]')
    expect(attachments.map((a) => [...a])).toEqual([[1, 2, 3], []])
  })

  it('gives back a header of any length: 200,000 characters, past any argument-count limit', () => {
    const long = `52-["e","${'x'.repeat(200_000)}"]`
    const { header, attachments } = unpackFrame(packFrame(long, [new Uint8Array([9])]))
    expect(header).toBe(long)
    expect(attachments.map((a) => [...a])).toEqual([[9]])
  })

  it('writes a header outside ASCII as JSON escapes, so it means the same', () => {
    const chunks = new PackedEncoder().encode(packet(['e', 'héllo 🙂', new Uint8Array([7])]))
    expect(chunks).toHaveLength(1)
    const frame = chunks[0] as Uint8Array
    const h = frame[0] as number
    expect(frame.every((b, i) => i < 4 || i >= 4 + h || b < 0x80)).toBe(true)
    expect(decodeAll(chunks)).toEqual([packet(['e', 'héllo 🙂', new Uint8Array([7])])])
  })

  it('encoder and decoder round-trip any event, with or without bytes, as one frame per message', () => {
    const leaf = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.uint8Array({ maxLength: 40 }).map((b) => new Uint8Array(b)),
    )
    fc.assert(
      fc.property(
        fc.array(leaf, { maxLength: 6 }),
        fc.option(fc.nat(1e6), { nil: undefined }),
        (args, id) => {
          const sent = packet(['event', ...args], id)
          const chunks = new PackedEncoder().encode(structuredClone(sent))
          expect(chunks).toHaveLength(1)
          expect(decodeAll(chunks)).toEqual([sent])
        },
      ),
      { numRuns: 500 },
    )
  })

  it('decodes socket.io’s own text packets unchanged', () => {
    const sent = packet(['e', { a: 1 }], 3)
    expect(decodeAll(new Encoder().encode(sent))).toEqual([sent])
  })

  it('refuses a frame cut short, one with bytes past its last attachment, a non-ASCII header, and a count mismatch', () => {
    const good = packFrame('51-["e",{"_placeholder":true,"num":0}]', [new Uint8Array([1, 2])])
    const cases: [Uint8Array, RegExp][] = [
      [
        good.subarray(0, 2),
        /expected the 4-byte length of the header at byte 0, got the end of a 2-byte frame/,
      ],
      [good.subarray(0, good.length - 1), /attachment 1 says 2 bytes at byte \d+, but the frame ends at \d+/],
      [Uint8Array.from([...good, 1]), /expected the 4-byte length of attachment 2 at byte \d+/],
      [Uint8Array.from([1, 0, 0, 0, 0xe9]), /expected an ASCII header, got byte 0xe9 at 4/],
      [
        packFrame('52-["e"]', [new Uint8Array(1)]),
        /expected a binary packet header announcing the 1 attachment\(s\) it holds, got "52-\[/,
      ],
    ]
    for (const [frame, message] of cases) {
      let thrown: unknown
      try {
        decodeAll([frame])
      } catch (error) {
        thrown = error
      }
      expect(thrown).toBeInstanceOf(ProtocolError)
      expect((thrown as ProtocolError).code).toBe('malformed')
      expect((thrown as Error).message).toMatch(message)
    }
  })

  it('answers any bytes with packets or a ProtocolError, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeAll([new Uint8Array(bytes)])
        } catch (error) {
          if (!(error instanceof ProtocolError)) expect(String(error)).toMatch(/^Error: /)
        }
      }),
      { numRuns: 2000 },
    )
  })
})

describe('a shared payload: one message for many participants', () => {
  const round = () => ({ round: 3, weights: new Uint8Array([1, 2, 3, 4]), deadlineMs: 500 })

  it('is encoded once: every socket is handed the same frame, which decodes to the payload', () => {
    const encoder = new PackedEncoder()
    const shared = sharedPayload(round())
    const first = encoder.encode(packet(['round', shared]))
    const again = encoder.encode(packet(['round', shared]))
    expect(again[0]).toBe(first[0])
    expect(decodeAll(first)).toEqual([packet(['round', round()])])
  })

  it('is frozen, since a change after its first send would reach no one', () => {
    const shared = sharedPayload(round())
    expect(Object.isFrozen(shared)).toBe(true)
    expect(() => {
      ;(shared as { round: number }).round = 4
    }).toThrow(TypeError)
  })

  it('is encoded apart per event name and namespace, and a payload not marked shared every time', () => {
    const encoder = new PackedEncoder()
    const shared = sharedPayload(round())
    const a = encoder.encode(packet(['round', shared]))[0]
    const b = encoder.encode(packet(['other', shared]))[0]
    const c = encoder.encode({ ...packet(['round', shared]), nsp: '/else' })[0]
    expect(new Set([a, b, c]).size).toBe(3)
    const plain = round()
    expect(encoder.encode(packet(['round', plain]))[0]).not.toBe(encoder.encode(packet(['round', plain]))[0])
  })

  it('with an acknowledgement is encoded each time (each carries its own id)', () => {
    const encoder = new PackedEncoder()
    const shared = sharedPayload(round())
    const [one] = encoder.encode(packet(['round', shared], 1))
    const [two] = encoder.encode(packet(['round', shared], 2))
    expect(decodeAll([one]).map((p) => p.id)).toEqual([1])
    expect(decodeAll([two]).map((p) => p.id)).toEqual([2])
  })
})
