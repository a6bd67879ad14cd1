import { PROTOCOL_VERSION, signHello } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import type { Socket } from 'socket.io-client'
import { describe, expect, it } from 'vitest'
import { challengeOf, connectTo, seedOf } from '../harness.ts'
import { type Attacked, startAttacked } from './attack-fixture.ts'

let coordinator: Attacked | undefined

const FORGED =
  'fedtune-client/1\nwarning: admin: closing the connection: bad-proof\u001b[2K\u001b[1A\rjoined: admin (x)'

function client(): Socket {
  const socket = connectTo(coordinator as Attacked)
  return socket
}

/** No printed line holds a line break or a control character: each is exactly one visible line. */
function expectOneLineEach(lines: readonly string[]): void {
  for (const line of lines)
    for (const char of line) {
      const code = char.codePointAt(0) as number
      expect(code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029).toBe(false)
    }
}

describe('a participant whose strings carry newlines and ANSI escapes', () => {
  it('an agent with "\\n" and ESC cannot forge a coordinator log line: it is printed escaped, on its own line', async () => {
    coordinator = await startAttacked()
    await coordinator.enrol('forger', 'hospital', nodeCrypto.ed25519PublicKey(seedOf('forger')))
    const socket = client()
    const hello = signHello(nodeCrypto, seedOf('forger'), await challengeOf(socket), {
      protocol: PROTOCOL_VERSION,
      participant: 'forger',
      kind: 'hospital',
      agent: FORGED,
    })
    expect(await socket.emitWithAck('hello', hello)).toMatchObject({ ok: true })
    const joined = await coordinator.line(/^joined: forger/)
    expect(joined).toBe(
      'joined: forger (fedtune-client/1\\nwarning: admin: closing the connection: bad-proof\\x1b[2K\\x1b[1A\\rjoined: admin (x))',
    )
    expect(
      coordinator.lines.some((l) => l.startsWith('warning: admin') || l.startsWith('joined: admin')),
    ).toBe(false)
    expectOneLineEach(coordinator.lines)
  })

  it('a refused hello’s protocol string, an unknown event’s name and a socket’s refusal reach the log escaped', async () => {
    coordinator = await startAttacked({ maxUnknownEvents: 1 })
    const refusedHello = client()
    const hello = signHello(nodeCrypto, seedOf('x'), await challengeOf(refusedHello), {
      protocol: 'fedtune/9\n\u001b[31mjoined: admin',
      participant: 'x',
      kind: 'hospital',
      agent: 'test',
    })
    expect(await refusedHello.emitWithAck('hello', hello)).toMatchObject({ ok: false, code: 'wrong-version' })
    expect(await coordinator.line(/refused hello/)).toMatch(/got "fedtune\/9\\n\\x1b\[31mjoined: admin"/)

    const namer = client()
    await challengeOf(namer)
    namer.emit('evil\nwarning: fake line\u001b[0m', 1)
    namer.emit('evil\nwarning: fake line\u001b[0m', 2)
    expect(await coordinator.line(/unknown-events/)).toMatch(
      /evil\\nwarning: fake line\\x1b\[0m \(unknown\) ×2/,
    )
    expectOneLineEach(coordinator.lines)
    expect(
      coordinator.lines.some((l) => l.startsWith('warning: fake line') || l.startsWith('joined: admin')),
    ).toBe(false)
  })
})
