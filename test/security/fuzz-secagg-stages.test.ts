import { nodeCrypto } from '@fedtune/protocol/node'
import * as fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  encodeSharePlaintext,
  parseAdvertisement,
  parseIncomingShares,
  parseMaskedInput,
  parseNeighbourAdvertisements,
  parseSealedShares,
  parseSharePlaintext,
  parseUnmaskRequest,
  parseUnmaskResponse,
  SecaggParticipant,
  SecaggServer,
  type Stage,
} from '../../protocol/src/secagg/index.ts'
import { overTheWire, seeded, setupRound, structuredInputs } from '../protocol/secagg/round.ts'
import { bytesLike, CaseTally, inputsLike, junk, outcome, outcomeAsync, reportTally, runs } from './fuzz.ts'

/**
 * Every stage of secure aggregation, fuzzed where the messages land: each parser of
 * protocol/src/secagg/messages.ts on its own, then the coordinator's SecaggServer.receive and the
 * participant's shareKeys / maskedInput / unmask, each brought to the stage under test by replaying
 * an honest round (5 participants, neighbourhoods of 3, a neighbour of the victim dropping before
 * its masked input) and then handed a random or mutated message
 * in place of the honest one. Every input gives a typed value or a coded ProtocolError.
 *
 * Cases in this file: 62,500 (of the ≥ 100,000 the fuzz files run together).
 */
const tally = new CaseTally()
afterAll(() => reportTally('secagg stages', tally))

const n = 5
const dim = 16
const setup = setupRound({ crypto: nodeCrypto, n, dim, neighbourCount: 3, threshold: 2, seed: 'fuzz' })
const { context, ids } = setup
const inputs = structuredInputs(n, dim)
const participantAt = (i: number) =>
  new SecaggParticipant({
    crypto: seeded(nodeCrypto, `participant ${i}`),
    identitySeed: setup.seeds[i] as Uint8Array,
    context,
  })
const inputOf = (id: string) => inputs[ids.indexOf(id)] as Uint32Array

/** One honest round's messages as they crossed the wire: up (participant → coordinator) and down, by stage and id. */
type Recorded = Record<Stage, Map<string, unknown>>
const up: Recorded = {
  advertise: new Map(),
  'share-keys': new Map(),
  'masked-input': new Map(),
  unmask: new Map(),
}
const down: Recorded = {
  advertise: new Map(),
  'share-keys': new Map(),
  'masked-input': new Map(),
  unmask: new Map(),
}

beforeAll(async () => {
  const parties = new Map(ids.map((id, i) => [id, participantAt(i)]))
  const server = new SecaggServer({ crypto: nodeCrypto, context })
  const send = (stage: Stage, id: string, message: unknown) => {
    const wire = overTheWire(message)
    up[stage].set(id, wire)
    server.receive(id, wire)
  }
  const relay = (stage: Stage, outcome: { ok: boolean; messages?: ReadonlyMap<string, unknown> }) => {
    if (!outcome.ok || !outcome.messages) throw new Error(`the honest round failed at ${stage}`)
    for (const [id, m] of outcome.messages) down[stage].set(id, overTheWire(m))
  }
  for (const [id, p] of parties) send('advertise', id, p.advertise())
  relay('advertise', server.closeAdvertise())
  for (const [id, p] of parties) send('share-keys', id, await p.shareKeys(down.advertise.get(id)))
  relay('share-keys', server.closeShareKeys())
  // A neighbour of the victim drops before its masked input, so the victim's unmask answer carries a correction.
  const dropout = (context.neighbours.get(ids[0] as string) as readonly string[]).find((v) => v !== ids[0])
  for (const [id, p] of parties)
    if (id !== dropout) send('masked-input', id, await p.maskedInput(down['share-keys'].get(id), inputOf(id)))
  relay('unmask', server.closeMaskedInput())
  for (const [id, p] of parties) if (id !== dropout) send('unmask', id, await p.unmask(down.unmask.get(id)))
  const result = await server.finish()
  expect(result.ok).toBe(true)
})

const victim = ids[0] as string
const honestUp = (stage: Stage) => up[stage].get(victim)
const honestDown = (stage: Stage) => down[stage].get(victim)
const round = { taskId: context.taskId, round: context.round }

describe('fuzzing each secagg parser on its own: a typed value or a coded refusal', () => {
  it('advertise, sealed shares, masked input and unmask response (participant → coordinator)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          inputsLike(honestUp('advertise')),
          inputsLike(honestUp('share-keys')),
          inputsLike(honestUp('masked-input')),
          inputsLike(honestUp('unmask')),
        ),
        (raw) => {
          outcome(tally, () => parseAdvertisement(raw, round))
          outcome(tally, () => parseSealedShares(raw, round))
          outcome(tally, () => parseMaskedInput(raw, round, dim))
          outcome(tally, () => parseUnmaskResponse(raw, round, dim))
        },
      ),
      runs(8000),
    )
  })

  it('neighbour advertisements, incoming shares and unmask request (coordinator → participant)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          inputsLike(honestDown('advertise')),
          inputsLike(honestDown('share-keys')),
          inputsLike(honestDown('unmask')),
        ),
        (raw) => {
          outcome(tally, () => parseNeighbourAdvertisements(raw, round))
          outcome(tally, () => parseIncomingShares(raw, round))
          outcome(tally, () => parseUnmaskRequest(raw, context))
        },
      ),
      runs(6000),
    )
  })

  it('a share plaintext of any length and content (what opens from a sealed share)', () => {
    const valid = encodeSharePlaintext({
      from: ids[1] as string,
      to: victim,
      x: 2,
      maskKeyShare: new Uint8Array(32).fill(1),
      selfMaskShare: new Uint8Array(32).fill(2),
    })
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.uint8Array({ minLength: valid.length, maxLength: valid.length }),
          bytesLike().filter((b): b is Uint8Array => b instanceof Uint8Array),
        ),
        (bytes) => {
          outcome(tally, () => parseSharePlaintext(bytes))
        },
      ),
      runs(3000),
    )
  })
})

/**
 * A server at `stage` that has heard every other participant's message for it and waits for the
 * victim's: the point where a hostile message takes the honest one's place.
 */
function serverWaitingAt(stage: Stage): SecaggServer {
  const server = new SecaggServer({ crypto: nodeCrypto, context })
  const order: Stage[] = ['advertise', 'share-keys', 'masked-input', 'unmask']
  for (const s of order) {
    // Everyone who spoke in the honest round (the dropout is silent from masked-input on).
    for (const id of ids)
      if (up[s].has(id) && (s !== stage || id !== victim)) server.receive(id, up[s].get(id))
    if (s === stage) return server
    if (s === 'advertise') server.closeAdvertise()
    else if (s === 'share-keys') server.closeShareKeys()
    else server.closeMaskedInput()
  }
  return server
}

describe('fuzzing the coordinator at every secure stage: SecaggServer.receive takes a typed message or refuses it', () => {
  for (const stage of ['advertise', 'share-keys', 'masked-input', 'unmask'] as const)
    it(`${stage}: a random or mutated message from a participant, or from a stranger`, () => {
      let server = serverWaitingAt(stage)
      const others = Object.values(up).map((m) => m.get(victim))
      fc.assert(
        fc.property(
          fc.oneof(
            { weight: 4, arbitrary: inputsLike(honestUp(stage)) },
            { weight: 1, arbitrary: fc.constantFrom(...others) }, // another stage's message: out of order
            { weight: 1, arbitrary: junk },
          ),
          fc.oneof(
            { weight: 8, arbitrary: fc.constant(victim) },
            { weight: 1, arbitrary: fc.constantFrom(...ids) },
            { weight: 1, arbitrary: fc.stringMatching(/^[0-9a-f]{32}$/) },
          ),
          (raw, from) => {
            if (server.stage !== stage || !server.waitingFor.includes(victim)) server = serverWaitingAt(stage)
            outcome(tally, () => {
              server.receive(from, raw)
              return null
            })
          },
        ),
        runs(1500),
      )
    })
})

/** A participant that has taken part honestly up to (not including) `stage`. */
async function participantBefore(stage: Exclude<Stage, 'advertise'>): Promise<SecaggParticipant> {
  const p = participantAt(0)
  p.advertise()
  if (stage === 'share-keys') return p
  await p.shareKeys(honestDown('advertise'))
  if (stage === 'masked-input') return p
  await p.maskedInput(honestDown('share-keys'), inputOf(victim))
  return p
}

const before: Record<Exclude<Stage, 'advertise'>, string> = {
  'share-keys': 'advertised',
  'masked-input': 'shared',
  unmask: 'masked',
}

describe('fuzzing a participant at every relayed stage: it takes a typed relay or refuses it', () => {
  for (const stage of ['share-keys', 'masked-input', 'unmask'] as const) {
    const relayed = stage === 'share-keys' ? 'advertise' : stage === 'masked-input' ? 'share-keys' : 'unmask'
    it(`${stage}: a random or mutated relay from the coordinator`, async () => {
      let p = await participantBefore(stage)
      await fc.assert(
        fc.asyncProperty(inputsLike(honestDown(relayed)), async (raw) => {
          if (p.stage !== before[stage]) p = await participantBefore(stage)
          const party = p
          await outcomeAsync(tally, async () => {
            if (stage === 'share-keys') return await party.shareKeys(raw)
            if (stage === 'masked-input') return await party.maskedInput(raw, inputOf(victim))
            return await party.unmask(raw)
          })
        }),
        runs(stage === 'unmask' ? 1500 : 1000),
      )
    })
  }
})
