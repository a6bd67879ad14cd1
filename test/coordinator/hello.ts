import { createHash } from 'node:crypto'
import {
  type Challenge,
  type HelloAck,
  type ParticipantKind,
  PROTOCOL_VERSION,
  parseChallenge,
  signHello,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import type { Socket } from 'socket.io-client'

/**
 * Saying hello as the real clients do: wait for the connection's challenge, then sign it with the
 * identity key (hello-proof.ts).
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
export async function sayHello(socket: Socket, fields: HelloFields): Promise<HelloAck> {
  const challenge = await challengeOf(socket)
  const hello = signHello(nodeCrypto, fields.seed ?? seedOf(fields.participant), challenge, {
    protocol: fields.protocol ?? PROTOCOL_VERSION,
    participant: fields.participant,
    kind: fields.kind ?? 'hospital',
    agent: 'test',
  })
  return (await socket.emitWithAck('hello', hello)) as HelloAck
}
