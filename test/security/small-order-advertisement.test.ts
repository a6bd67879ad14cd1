import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { participantId, transcript } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { describe, expect, it } from 'vitest'
import { seedOf, startMainCoordinator, testParticipant } from '../harness.ts'

/**
 * Issue 11, finding 4 (the curve half): a validly signed advertisement whose X25519 cPublic is all
 * zero (a point of small order) was accepted and relayed; every honest neighbour then refused it,
 * and the round failed ("0 of 3 shared keys"), every round that participant was selected for. The
 * coordinator now refuses a small-order cPublic or sPublic at advertise (bad-key), before anything
 * is relayed: the sender is merely absent from U1, and the round goes on without it.
 */
const fromHex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'))
const ORDER_8 = fromHex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800')
const withBit255 = (key: Uint8Array) => Uint8Array.from(key, (b, i) => (i === 31 ? b | 0x80 : b))

/**
 * Three honest hospitals and `mallory`, whose advertisement carries `weak` as its `which` key,
 * signed with its own identity key: everything about it is valid but the key's order. Mallory
 * stays connected and silent after the refusal.
 */
async function roundWithWeakKey(which: 'cPublic' | 'sPublic', weak: Uint8Array) {
  const c = await startMainCoordinator({
    participation: { minParticipants: 3, participantsPerRound: 4, gatherSeconds: 3600 },
    aggregation: { neighbours: 4, threshold: 3, stageDeadlineSeconds: 3 },
  })
  const id = participantId(nodeCrypto.ed25519PublicKey(seedOf('mallory')))
  const honest = ['a', 'b', 'c'].map((name) => testParticipant(c, name))
  const mallory = testParticipant(c, 'mallory', {
    alter: (message, round) => {
      if (message.stage !== 'advertise') return undefined
      const keys = { ...message, [which]: weak }
      const signature = nodeCrypto.sign(
        seedOf('mallory'),
        transcript('advertise', message.taskId, round, id, keys.cPublic, keys.sPublic),
      )
      return { ...keys, signature }
    },
  })
  for (const h of [...honest, mallory]) expect((await h.joined).ok).toBe(true)
  const done = await c.federation.done
  const record = JSON.parse(readFileSync(join(c.outDir, 'rounds.jsonl'), 'utf8').trim()) as {
    status: string
    selected: string[]
    survivors: string[]
  }
  return { c, done, ack: await mallory.acked(1, 'advertise'), id, honest, record }
}

describe('small-order advertisement', () => {
  it('an all-zero cPublic, validly signed, is refused by the coordinator with bad-key before relaying, and the round aggregates without its sender', async () => {
    const zero = new Uint8Array(32)
    const { c, done, ack, id, honest, record } = await roundWithWeakKey('cPublic', zero)
    expect(ack).toEqual({
      ok: false,
      code: 'bad-key',
      reason: `advertise: expected an X25519 cPublic of large order from ${id}, got ${'00'.repeat(32)}, a point of small order (every key agreed with it is all zero)`,
    })
    // relayed to no one: each honest hospital heard only of the three honest advertisements
    for (const h of honest) {
      expect(h.reports.filter((r) => r.type === 'refused')).toEqual([])
      expect(h.relayed).toHaveLength(1)
      expect(h.relayed[0]).toHaveLength(3)
      expect(h.relayed[0]).not.toContain(id)
    }
    expect(done).toMatchObject({ completed: 1, failed: 0 })
    expect(record.status).toBe('aggregated')
    expect(record.selected).toContain('mallory')
    expect([...record.survivors].sort()).toEqual(['a', 'b', 'c'])
    expect(
      c.lines.filter((l) => /refused a secagg message from mallory: advertise: expected an X25519/.test(l)),
    ).toHaveLength(1)
  })

  it('a small-order sPublic (a point of order 8, bit 255 set) is refused the same way', async () => {
    const { done, ack, id, honest, record } = await roundWithWeakKey('sPublic', withBit255(ORDER_8))
    expect(ack).toMatchObject({ ok: false, code: 'bad-key' })
    expect(ack.ok === false && ack.reason).toContain(`expected an X25519 sPublic of large order from ${id}`)
    for (const h of honest) expect(h.relayed[0]).not.toContain(id)
    expect(done).toMatchObject({ completed: 1, failed: 0 })
    expect([...record.survivors].sort()).toEqual(['a', 'b', 'c'])
  })
})
