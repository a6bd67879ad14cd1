import {
  boundedParser,
  ConnectionGuard,
  connectionLimits,
  decodeHeader,
  handOver,
  messageBounds,
} from '@fedtune/coordinator'
import { PackedEncoder, ProtocolError, packFrame } from '@fedtune/protocol'
import fc from 'fast-check'
import { Encoder, type Packet, PacketType } from 'socket.io-parser'
import { describe, expect, it } from 'vitest'

const bounds = messageBounds({ paramCount: 1000, classes: 2, secure: true, neighbours: 5 })

/** A decoder as socket.io builds it, for a connection that has said hello; with what it decoded and logged. */
function joinedDecoder() {
  const log: string[] = []
  const guard = new ConnectionGuard({
    conn: { close: () => {}, once: () => undefined },
    label: 'test',
    limits: connectionLimits({ eventBurst: 1_000_000 }),
    bounds,
    log: (line) => log.push(line),
  })
  guard.join('p')
  handOver(guard)
  const decoder = new boundedParser.Decoder()
  const decoded: Packet[] = []
  decoder.on('decoded', (p) => decoded.push(p))
  return { decoder, decoded, log }
}

const bytes = fc.uint8Array({ maxLength: 64 }).map((b) => new Uint8Array(b))
const value = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.integer(),
    fc.boolean(),
    bytes,
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), tie('node'), { maxKeys: 3 }),
  ),
})).node

describe('the bounded decoder', () => {
  it('decodes what socket.io-parser encodes, attachments included, to the same packet', () => {
    fc.assert(
      fc.property(
        fc.array(bytes, { maxLength: 3 }),
        value,
        fc.option(fc.nat({ max: 1e6 }), { nil: undefined }),
        (keys, extra, id) => {
          const { decoder, decoded } = joinedDecoder()
          const payload = { taskId: 't', round: 1, stage: 'advertise', keys, extra }
          const packet: Packet = {
            type: PacketType.EVENT,
            nsp: '/',
            data: ['secagg', payload],
            ...(id === undefined ? {} : { id }),
          }
          const chunks = new Encoder().encode(structuredClone(packet))
          const announced = chunks.length - 1
          if (announced > (bounds.secagg?.advertise.attachments ?? 0)) return // past the bound: the other test
          for (const chunk of chunks) decoder.add(chunk)
          expect(decoded).toHaveLength(1)
          expect(decoded[0]).toEqual(packet)
        },
      ),
      { numRuns: 500 },
    )
  })

  it('reads any text as a packet header or refuses it with a ProtocolError, never another exception', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string().map((s) => `5${s}`),
          fc.string().map((s) => `2["${s}`),
        ),
        (text) => {
          try {
            decodeHeader(text)
          } catch (error) {
            expect(error).toBeInstanceOf(ProtocolError)
          }
        },
      ),
      { numRuns: 3000 },
    )
  })

  it('refuses an announced attachment count past the stage’s bound before any attachment, with the bound and the count', () => {
    const { decoder, log } = joinedDecoder()
    expect(() => decoder.add('56-["secagg",{"stage":"unmask"}]')).toThrow(
      'secagg "unmask": expected at most 2 attachments, got 6 announced',
    )
    expect(log).toEqual([
      'p: closing the connection: too-large: secagg "unmask": expected at most 2 attachments, got 6 announced',
    ])
  })

  it('decodes what the packed encoder sends, one frame a message, to the same packet', () => {
    fc.assert(
      fc.property(fc.array(bytes, { minLength: 1, maxLength: 3 }), value, (keys, extra) => {
        const { decoder, decoded } = joinedDecoder()
        const packet: Packet = {
          type: PacketType.EVENT,
          nsp: '/',
          data: ['secagg', { taskId: 't', round: 1, stage: 'advertise', keys, extra }],
        }
        const chunks = new PackedEncoder().encode(structuredClone(packet))
        if (chunks.length > 1) return
        const announced = Number(
          /^5(\d+)-/.exec(new TextDecoder().decode((chunks[0] as Uint8Array).subarray(4, 16)))?.[1],
        )
        if (announced > (bounds.secagg?.advertise.attachments ?? 0)) return
        decoder.add(chunks[0])
        expect(decoded).toEqual([packet])
      }),
      { numRuns: 500 },
    )
  })

  it('weighs a packed frame as it weighs v5 framing: a count past the stage’s bound is refused at the header', () => {
    const { decoder, log } = joinedDecoder()
    const six = Array.from({ length: 6 }, () => new Uint8Array(32))
    expect(() =>
      decoder.add(
        packFrame(
          '56-["secagg",{"stage":"unmask","s":[' +
            six.map((_, i) => `{"_placeholder":true,"num":${i}}`).join(',') +
            ']}]',
          six,
        ),
      ),
    ).toThrow('secagg "unmask": expected at most 2 attachments, got 6 announced')
    expect(log).toHaveLength(1)
  })

  it('refuses a packed frame whose header announces another count than it holds, or that is no binary packet', () => {
    const one = [new Uint8Array(32)]
    expect(() => joinedDecoder().decoder.add(packFrame('52-["secagg",{"stage":"advertise"}]', one))).toThrow(
      'packed frame: its header announces 2 attachments, the frame holds 1',
    )
    expect(() => joinedDecoder().decoder.add(packFrame('2["secagg",{}]', one))).toThrow(
      /^packed frame: expected a binary packet's header \("5<n>-…"\), got "2\[/,
    )
    expect(() => joinedDecoder().decoder.add(new Uint8Array([9, 0, 0, 0, 0x35]))).toThrow(
      'packed frame: the header says 9 bytes at byte 4, but the frame ends at 5',
    )
  })

  it('a packed frame while a v5 packet waits for its attachments is that packet’s attachment', () => {
    const { decoder, decoded } = joinedDecoder()
    decoder.add('51-["secagg",{"stage":"masked-input","masked":{"_placeholder":true,"num":0}}]')
    const attachment = packFrame('51-["x"]', [new Uint8Array(4)])
    decoder.add(attachment)
    expect(decoded).toHaveLength(1)
    const data = decoded[0]?.data as [string, { masked: Uint8Array }]
    expect(data[1].masked).toEqual(attachment)
  })

  it('a decoder socket.io built without a guard refuses everything', () => {
    const decoder = new boundedParser.Decoder()
    expect(() => decoder.add('0')).toThrow(/without a connection guard/)
  })
})
