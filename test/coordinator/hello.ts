import { createHash } from 'node:crypto'
import {
  type Challenge,
  type HelloAck,
  helloFor,
  type ParticipantKind,
  parseChallenge,
  parseHelloAck,
  type ReceivedRefusalCode,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import type { Socket } from 'socket.io-client'

/**
 * Saying hello as the real clients do: wait for the connection's challenge, then sign it with the
 * identity key (protocol/src/hello-handshake.ts). The ack comes back parsed as a participant reads
 * it, so a refusal with a code outside REFUSAL_CODES reads as 'unknown' and fails the test that
 * expects its code.
 */

/** A fixed identity seed per name, as a real client keeps one in its cache. */
export const seedOf = (name: string) => new Uint8Array(createHash('sha256').update(`seed ${name}`).digest())

const challenges = new WeakMap<Socket, Promise<Challenge>>()

/**
 * The challenge `socket`'s coordinator opens with. The first call must come before it can arrive:
 * in the tick that creates the socket, or in its 'connect' handler.
 */
export function challengeOf(socket: Socket): Promise<Challenge> {
  let challenge = challenges.get(socket)
  if (challenge === undefined) {
    challenge = new Promise((resolve) => socket.once('challenge', (raw) => resolve(parseChallenge(raw))))
    challenges.set(socket, challenge)
  }
  return challenge
}

export type HelloFields = {
  readonly participant: string
  readonly kind?: ParticipantKind
  readonly protocol?: string
  /** The identity key's seed; `seedOf(participant)` unless given. */
  readonly seed?: Uint8Array
}

/** Says hello once the challenge has come; resolves with the coordinator's ack. */
export async function sayHello(socket: Socket, fields: HelloFields): Promise<HelloAck<ReceivedRefusalCode>> {
  const challenge = await challengeOf(socket)
  const hello = helloFor(challenge, {
    crypto: nodeCrypto,
    identitySeed: fields.seed ?? seedOf(fields.participant),
    participant: fields.participant,
    kind: fields.kind ?? 'hospital',
    agent: 'test',
    ...(fields.protocol === undefined ? {} : { protocol: fields.protocol }),
  })
  return parseHelloAck(await socket.emitWithAck('hello', hello))
}
