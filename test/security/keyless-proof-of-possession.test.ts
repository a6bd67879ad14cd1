import { type HelloAck, PROTOCOL_VERSION } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import {
  challengeOf,
  connectTo,
  type MainCoordinator,
  startMainCoordinator,
  testParticipant,
} from '../harness.ts'

/**
 * Issue 11, finding 3: a hello whose identity key is the identity point (01 00 … 00), with the
 * proof R = identity ‖ S = 0, verified against any challenge (the equation R = S·B − h·A holds for
 * every h when A has order 1), so a name could be enrolled without any private key, and one "key"
 * shared by any number of names. Every small-order key, and every non-canonical one, is now
 * refused before its proof is even checked (bad-key), and nothing is enrolled.
 */
const fromHex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'))
const IDENTITY = fromHex(`01${'00'.repeat(31)}`)

/** Every encoding of the eight small-order points (ed25519-strict.ts), bit 255 either way. */
const SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].flatMap((y) => [fromHex(y), Uint8Array.from(fromHex(y), (b, i) => (i === 31 ? b | 0x80 : b))])

/** A hello with this identity key and proof, sent once the connection's challenge has come. */
async function keylessHello(
  c: MainCoordinator,
  participant: string,
  identityKey: Uint8Array,
  proof: Uint8Array,
): Promise<{ ack: HelloAck; closed: Promise<string> }> {
  const socket = connectTo(c)
  const closed = new Promise<string>((resolve) => socket.once('disconnect', resolve))
  await challengeOf(socket)
  const hello = {
    protocol: PROTOCOL_VERSION,
    participant,
    kind: 'hospital',
    agent: 'attack',
    identityKey,
    proof,
  }
  return { ack: (await socket.emitWithAck('hello', hello)) as HelloAck, closed }
}

/** Every participant the run store holds for the task, with its state. */
const enrolment = async (c: MainCoordinator) =>
  (await c.store.participants.byTask('main')).map((p) => `${p.name}:${p.state}`).sort()
/** Who is online (what /api/status lists to an operator). */
const online = async (c: MainCoordinator) => [...c.federation.state.online.keys()].sort()

/** A secure task with hospital `a` joined (and enrolled) honestly. */
async function withHospitalA(): Promise<MainCoordinator> {
  const c = await startMainCoordinator({
    participation: { minParticipants: 2, participantsPerRound: 4, gatherSeconds: 3600 },
    aggregation: { neighbours: 4, threshold: 3, stageDeadlineSeconds: 5 },
  })
  expect((await testParticipant(c, 'a').joined).ok).toBe(true)
  return c
}

describe('keyless proof of possession', () => {
  it('the identity-point hello (key 01 00…00, proof R = identity, S = 0) is refused with bad-key over a real socket, and nothing is enrolled', async () => {
    const c = await withHospitalA()
    const before = await enrolment(c)
    expect(before).toEqual(['a:approved'])

    const proof = new Uint8Array(64)
    proof.set(IDENTITY)
    for (const name of ['mallory', 'eve']) {
      const { ack, closed } = await keylessHello(c, name, IDENTITY, proof)
      expect(ack).toEqual({
        ok: false,
        code: 'bad-key',
        reason: `hello.identityKey: expected a canonical Ed25519 public key of large order, got 01${'00'.repeat(31)}, a point of small order, which verifies signatures made without any private key`,
      })
      // the refusal costs the sender its connection
      expect(await closed).toBe('io server disconnect')
    }
    expect(await enrolment(c)).toEqual(before)
    expect(await online(c)).toEqual(['a'])
    expect(c.lines.filter((l) => /refused hello: hello\.identityKey/.test(l))).toHaveLength(2)
  })

  it('every other small-order key and every non-canonical key (y ≥ p) is refused the same way', async () => {
    const c = await withHospitalA()
    const before = await enrolment(c)
    const nonCanonical = [fromHex(`${'ff'.repeat(31)}7f`), fromHex(`f0${'ff'.repeat(30)}ff`)]
    const keys = [...SMALL_ORDER, ...nonCanonical]
    const acks = await Promise.all(
      keys.map(async (key, i) => {
        const proof = new Uint8Array(64)
        proof.set(key)
        return (await keylessHello(c, `mallory-${i}`, key, proof)).ack
      }),
    )
    for (const [i, ack] of acks.entries()) {
      expect(ack, Buffer.from(keys[i] as Uint8Array).toString('hex')).toMatchObject({
        ok: false,
        code: 'bad-key',
      })
      expect(ack.ok === false && ack.reason).toMatch(
        // the first ten have y < p; p and p + 1 (small order too) are caught as non-canonical first
        i < 10 ? /a point of small order/ : /a non-canonical encoding \(y ≥ p/,
      )
    }
    expect(await enrolment(c)).toEqual(before)
    expect(await online(c)).toEqual(['a'])
  })
})
