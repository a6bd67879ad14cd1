import { emptyEvaluationCounts, flattenEvaluationCounts } from '@fedtune/protocol'
import type { Socket } from 'socket.io-client'
import { describe, expect, it } from 'vitest'
import { connectTo, sayHello } from '../harness.ts'
import { type Attacked, startAttacked } from './attack-fixture.ts'

/**
 * Input nothing foresaw, stood in for by a fault injected into the federation behind each socket
 * handler: the handler answers `internal`, the coordinator logs it once and closes that
 * connection, and it goes on serving.
 */
let coordinator: Attacked | undefined

async function joined(name: string): Promise<Socket> {
  const socket = connectTo(coordinator as Attacked)
  expect(await sayHello(socket, { participant: name })).toMatchObject({ ok: true })
  return socket
}

const injected = () => {
  throw new Error('injected fault')
}

describe('a socket handler that throws', () => {
  for (const event of ['secagg', 'update'] as const)
    it(`${event}: answered internal, logged once, that connection closed; the coordinator still serves`, async () => {
      coordinator = await startAttacked()
      const federation = coordinator.running.federation
      const original = federation[event]
      federation[event] = injected
      const socket = await joined('unlucky')
      const message =
        event === 'update'
          ? {
              round: 1,
              delta: new Uint8Array(federation.task.paramCount * 4),
              examples: 1,
              labelCounts: [1, 0],
              metrics: { trainLoss: 0, evaluation: flattenEvaluationCounts(emptyEvaluationCounts(2)) },
            }
          : { taskId: 'attacked', round: 1, stage: 'advertise' }
      const ack = await socket.emitWithAck(event, message)
      expect(ack).toEqual({
        ok: false,
        code: 'internal',
        reason: `the coordinator failed handling this ${event}; its operator has the details`,
      })
      await new Promise((resolve) => socket.once('disconnect', resolve))
      const logged = coordinator.lines.filter((l) => l.includes('injected fault'))
      expect(logged).toHaveLength(1)
      expect(logged[0]).toMatch(
        new RegExp(
          `^warning: unlucky: closing the connection: internal: ${event} handler: Error: injected fault`,
        ),
      )
      federation[event] = original
      await joined('next')
    })

  it('disconnect: logged once; the coordinator still serves', async () => {
    coordinator = await startAttacked()
    const federation = coordinator.running.federation
    const original = federation.leave
    federation.leave = injected
    const socket = await joined('leaver')
    socket.disconnect()
    expect(await coordinator.line(/injected fault/)).toMatch(
      /^warning: leaver: closing the connection: internal: disconnect handler/,
    )
    federation.leave = original
    await joined('next')
  })
})
