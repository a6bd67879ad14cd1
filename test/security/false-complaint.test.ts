import { SHARE_RECORD_BYTES } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { filled, helloAgain, REAL_TIME, startTestCoordinator, testParticipant } from '../harness.ts'

/**
 * The other side of blame: a complaint is checked against what the coordinator relayed, so a
 * participant cannot get an honest neighbour excluded by complaining about it. Its complaint is
 * genuine in form (signed, with the real key K_uv), but the relayed share opens under that key.
 */
/** The relayed shares with the first one spoiled, so the participant's own code complains about its sender. */
const spoilFirst = (raw: { stage: string } & Record<string, unknown>) => {
  if (raw.stage !== 'share-keys') return raw
  const records = raw.shares as Uint8Array
  if (records.length < SHARE_RECORD_BYTES) return raw
  // byte 60 of the first record's ciphertext, past its 16-byte sender id
  const shares = Uint8Array.from(records)
  shares[16 + 60] = (shares[16 + 60] as number) ^ 1
  return { ...raw, shares }
}

describe('false complaints', () => {
  it('a participant complaining falsely that an honest neighbour’s share does not open is itself named and excluded, and the round aggregates without it', async () => {
    // A full selection of three, waited for: then the round starts with all three at once.
    const h = await startTestCoordinator({
      ...REAL_TIME,
      rounds: 1,
      minParticipants: 2,
      participantsPerRound: 3,
      gatherMs: 30_000,
    })
    const liar = testParticipant(h, 'liar', { delta: filled(5), examples: 10, heard: spoilFirst })
    const a = testParticipant(h, 'a', { delta: filled(0.5), examples: 10 })
    const b = testParticipant(h, 'b', { delta: filled(1), examples: 30 })
    await Promise.all([liar.joined, a.joined, b.joined])

    expect(await h.federation.done).toMatchObject({ completed: 1, failed: 0 })
    expect(h.records[0]).toMatchObject({ round: 1, status: 'aggregated' })
    expect([...(h.records[0]?.survivors ?? [])].sort()).toEqual(['a', 'b'])
    expect(h.records[0]?.excluded).toEqual([
      {
        participant: 'liar',
        by: 'liar',
        reason: expect.stringMatching(
          /^complained falsely that (a|b)'s share does not open: it opens under the key liar showed$/,
        ),
      },
    ])
    expect(h.federation.global[0]).toBe(Math.fround((0.5 * 10 + 1 * 30) / 40))
    expect(await h.excluded()).toEqual(['liar'])
    expect(await helloAgain(h, 'liar')).toMatchObject({ ok: false, code: 'excluded' })
    expect(await helloAgain(h, 'a')).toMatchObject({ ok: true })
  })
})
