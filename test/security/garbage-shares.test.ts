import { randomBytes } from 'node:crypto'
import { readSealedShares, sealedShareRecords } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { describe, expect, it } from 'vitest'
import { filled, helloAgain, REAL_TIME, seedOf, startTestCoordinator, testParticipant } from '../harness.ts'

/**
 * Issue 11, item 6: one participant relaying well-formed garbage as its sealed shares (137 bytes
 * each, which no one can open) used to fail every round it was selected for, with nobody the
 * wiser. Now its neighbours complain, the coordinator checks the complaints against what it
 * relayed, and the sender is named and excluded from the run.
 */
/** The sealed shares with every ciphertext replaced by random bytes of the same length. */
const garble = (message: { stage: string } & Record<string, unknown>) => {
  if (message.stage !== 'share-keys') return message
  const shares = readSealedShares(message.shares as Uint8Array, 'sealed')
  return {
    ...message,
    shares: sealedShareRecords(shares.map((s) => ({ ...s, ciphertext: randomBytes(s.ciphertext.length) }))),
  }
}

describe('garbage shares', () => {
  it('a participant sending garbage sealed shares is named by its neighbours’ complaints and excluded after one failed round; the next rounds aggregate with the three honest ones, and its hello is refused with excluded', async () => {
    const h = await startTestCoordinator({
      ...REAL_TIME,
      rounds: 3,
      minParticipants: 3,
      participantsPerRound: 3,
    })
    const garbler = testParticipant(h, 'garbler', { delta: filled(5), examples: 10, alter: garble })
    const selected = garbler.selected()
    const honest = [
      testParticipant(h, 'h1', { delta: filled(0.5), examples: 10 }),
      testParticipant(h, 'h2', { delta: filled(-0.25), examples: 30 }),
    ]
    await Promise.all([garbler.joined, ...honest.map((p) => p.joined)])
    expect(await selected).toBe(1)
    // The third honest participant arrives while round 1 runs without it.
    const late = testParticipant(h, 'h3', { delta: filled(1), examples: 60 })
    expect(await late.joined).toMatchObject({ ok: true })

    expect(await h.federation.done).toEqual({ reason: 'all 3 rounds done', completed: 2, failed: 1 })
    const [first, ...rest] = h.records
    expect(first).toMatchObject({ round: 1, status: 'failed', selected: ['garbler', 'h1', 'h2'].sort() })
    expect(first?.excluded).toEqual([
      {
        participant: 'garbler',
        by: expect.stringMatching(/^h[12]$/),
        reason: expect.stringMatching(
          /^its share for (h[12]) does not open under the key \1 sealed its own share with \(openShare: a ciphertext of 137 bytes failed authentication/,
        ),
      },
    ])
    // Each honest neighbour complained instead of sending a masked input, and is not blamed for it.
    for (const p of honest)
      expect(p.sent.filter((m) => m.round === 1).map((m) => m.stage)).toEqual([
        'advertise',
        'share-keys',
        'complaint',
      ])
    expect(rest.map((r) => [r.round, r.status, [...(r.survivors ?? [])].sort(), r.excluded])).toEqual([
      [2, 'aggregated', ['h1', 'h2', 'h3'], undefined],
      [3, 'aggregated', ['h1', 'h2', 'h3'], undefined],
    ])
    expect(h.warnings.filter((w) => w.includes('excluded garbler'))).toEqual([
      expect.stringMatching(
        /^round 1: excluded garbler from the run \(complaint by h[12]\): its share for h[12] does not open/,
      ),
    ])
    expect(await h.excluded()).toEqual(['garbler'])
    expect(garbler.socket.connected).toBe(false)
    expect(await helloAgain(h, 'garbler')).toEqual({
      ok: false,
      code: 'excluded',
      reason: expect.stringMatching(
        /^garbler was excluded from this run in round 1 \(its share for h[12] does not open .*\); re-admission is the operator's decision$/,
      ),
    })
  })

  it('a resumed run keeps refusing an excluded participant, under its name or with its identity key under another name', async () => {
    const entry = { participant: 'garbler', by: 'h1', reason: 'its share for h1 does not open', round: 4 }
    const h = await startTestCoordinator({
      ...REAL_TIME,
      rounds: 3,
      minParticipants: 3,
      participantsPerRound: 3,
      excluded: new Map([['garbler', entry]]),
      enrolled: new Map([['garbler', nodeCrypto.ed25519PublicKey(seedOf('garbler'))]]),
    })
    const refusal = {
      ok: false,
      code: 'excluded',
      reason: `garbler was excluded from task "test-task" (its share for h1 does not open); re-admission is the operator's decision`,
    }
    expect(await helloAgain(h, 'garbler')).toEqual(refusal)
    expect(await helloAgain(h, 'garbler-again', seedOf('garbler'))).toEqual(refusal)
    expect(await helloAgain(h, 'h1')).toMatchObject({ ok: true })
  })
})
