import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { participantId, transcript, type UpdateAck } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import type { Socket } from 'socket.io-client'
import { afterEach, describe, expect, it } from 'vitest'
import { seedOf } from '../harness.ts'
import { type Coordinator, secureHospital, startSecureCoordinator } from './secure-hospital.ts'

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

let coordinator: Coordinator | undefined
const sockets: Socket[] = []

afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect()
  await coordinator?.close()
  coordinator = undefined
})

/**
 * Three honest hospitals and `mallory`, whose advertisement carries `weak` as its `which` key,
 * signed with its own identity key: everything about it is valid but the key's order. Mallory
 * stays connected and silent after the refusal.
 */
async function roundWithWeakKey(which: 'cPublic' | 'sPublic', weak: Uint8Array) {
  const c = await startSecureCoordinator({
    places: 4,
    minParticipants: 3,
    neighbours: 4,
    threshold: 3,
    stageDeadlineSeconds: 3,
  })
  coordinator = c
  const honest = ['a', 'b', 'c'].map((name) => secureHospital(c, name, sockets))
  let refusal: Promise<UpdateAck> | undefined
  const mallory = secureHospital(c, 'mallory', sockets, (context, party, socket) => {
    const keys = { ...party.advertise(), [which]: weak }
    const signature = nodeCrypto.sign(
      seedOf('mallory'),
      transcript('advertise', context.taskId, context.round, party.id, keys.cPublic, keys.sPublic),
    )
    refusal = socket.emitWithAck('secagg', { ...keys, signature }) as Promise<UpdateAck>
    return true
  })
  for (const h of [...honest, mallory]) expect((await h.joined).ok).toBe(true)
  const done = await c.federation.done
  const id = participantId(nodeCrypto.ed25519PublicKey(seedOf('mallory')))
  const record = JSON.parse(readFileSync(join(c.outDir, 'rounds.jsonl'), 'utf8').trim()) as {
    status: string
    selected: string[]
    survivors: string[]
  }
  return { c, done, ack: await (refusal as Promise<UpdateAck>), id, honest, record }
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
      expect(h.refused).toEqual([])
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
