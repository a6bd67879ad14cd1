import {
  emptyEvaluationCounts,
  flattenEvaluationCounts,
  parseRoundStart,
  type RoundStart,
  roundContext,
  SecaggParticipant,
  type UpdateAck,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import type { Socket } from 'socket.io-client'
import { describe, expect, it } from 'vitest'
import {
  connectTo,
  MS,
  params,
  sayHello,
  seedOf,
  silentFrom,
  startTestCoordinator,
  type TestCoordinator,
  testParticipant,
} from '../harness.ts'

/**
 * Issue 11, finding 6: a message for another round, from a participant the round did not select,
 * or sent twice, is refused with the code docs/protocol.md documents for it, not as `malformed`;
 * the sender loses that message and nothing else.
 */
/** A participant the test drives by hand: it says hello and hands over the round it is sent. */
async function byHand(
  h: TestCoordinator,
  name: string,
): Promise<{ socket: Socket; round: Promise<RoundStart> }> {
  const socket = connectTo(h)
  const round = new Promise<RoundStart>((resolve) =>
    socket.once('round', (raw: unknown) => resolve(parseRoundStart(raw, params, 2))),
  )
  expect(await sayHello(socket, { participant: name })).toMatchObject({ ok: true })
  return { socket, round }
}

const send = async (socket: Socket, event: 'secagg' | 'update', message: unknown) =>
  (await socket.emitWithAck(event, message)) as UpdateAck

describe('refusal codes', () => {
  it('a secagg message for another round is refused with wrong-round, a second one with duplicate, one from an unselected participant with not-selected', async () => {
    const h = await startTestCoordinator()
    // b holds the advertise stage open by not advertising in round 1
    await Promise.all([
      testParticipant(h, 'a').joined,
      testParticipant(h, 'b', { alter: silentFrom(1, 'advertise') }).joined,
    ])
    const m = await byHand(h, 'm')
    const start = await m.round
    if (!start.secagg) throw new Error('expected a secure round')
    const party = new SecaggParticipant({
      crypto: nodeCrypto,
      identitySeed: seedOf('m'),
      context: roundContext(start.secagg.setup),
    })
    const advert = party.advertise()
    expect(await send(m.socket, 'secagg', { ...advert, round: start.round + 1 })).toMatchObject({
      ok: false,
      code: 'wrong-round',
      reason: `advertise.round: expected round ${start.round}, got number ${start.round + 1} (a message from another round)`,
    })
    expect(await send(m.socket, 'secagg', advert)).toEqual({ ok: true })
    expect(await send(m.socket, 'secagg', advert)).toMatchObject({
      ok: false,
      code: 'duplicate',
      reason: `secagg advertise: a second message from ${party.id} (replayed?)`,
    })
    // once the stage has closed, the same advertisement again is a replay too
    h.clock.fire(MS.stage)
    expect(await send(m.socket, 'secagg', advert)).toMatchObject({
      ok: false,
      code: 'duplicate',
      reason: 'share-keys.stage: expected "share-keys", got "advertise" (out of order or replayed)',
    })
    // joined after the round started: online, not selected
    const late = await byHand(h, 'late')
    expect(await send(late.socket, 'secagg', advert)).toMatchObject({
      ok: false,
      code: 'not-selected',
      reason: `secagg: expected a message from one of round ${start.round}'s participants, got one from late, who was not selected`,
    })
  })

  it('an update for another round is refused with wrong-round, a second one with duplicate, one from an unselected participant with not-selected', async () => {
    const h = await startTestCoordinator({ secure: false })
    // c holds round 1 open by not answering in it
    await Promise.all([
      testParticipant(h, 'a').joined,
      testParticipant(h, 'c', { alter: silentFrom(1, 'update') }).joined,
    ])
    const m = await byHand(h, 'm')
    const start = await m.round
    const update = (round: number) => ({
      round,
      delta: new Uint8Array(params * 4),
      examples: 10,
      labelCounts: [10, 0],
      metrics: { trainLoss: 0, evaluation: flattenEvaluationCounts(emptyEvaluationCounts(2)) },
    })
    expect(await send(m.socket, 'update', update(start.round + 1))).toMatchObject({
      ok: false,
      code: 'wrong-round',
      reason: `this is round ${start.round}, the update is for round ${start.round + 1}`,
    })
    expect(await send(m.socket, 'update', update(start.round))).toEqual({ ok: true })
    expect(await send(m.socket, 'update', update(start.round))).toMatchObject({
      ok: false,
      code: 'duplicate',
    })
    const late = await byHand(h, 'late')
    expect(await send(late.socket, 'update', update(start.round))).toMatchObject({
      ok: false,
      code: 'not-selected',
      reason: `late was not selected for round ${start.round}`,
    })
  })
})
