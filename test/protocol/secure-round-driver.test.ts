import {
  fixedPointFor,
  type RoundStart,
  type SecaggAnswer,
  SecaggServer,
  SecureRoundDriver,
  type SecureRoundReport,
  secureVectorLength,
  type TaskInfo,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { describe, expect, it } from 'vitest'
import { overTheWire, plainSum, setupRound, structuredInputs } from './secagg/round.ts'

/**
 * The participant's side of secure rounds, driven as a socket would drive it: a round starts, the
 * coordinator's SecaggServer relays each stage's messages, and what each driver emits goes back to
 * the server over the wire (as socket.io delivers it to Node).
 */
const classes = 2
const params = 10
const dim = secureVectorLength(params, classes)
const fixedPoint = fixedPointFor({ participants: 3, maxExamples: 100, clipNorm: 10 })

function roundOf(n = 3) {
  const setup = setupRound({ crypto: nodeCrypto, n, dim, neighbourCount: n, threshold: 2 })
  const task = {
    taskId: setup.setup.taskId,
    head: { layers: [], labels: ['a', 'b'] },
    paramCount: params,
  } as unknown as TaskInfo
  const start = (over: Partial<RoundStart['secagg'] & object> = {}) =>
    ({
      round: setup.setup.round,
      secagg: { setup: setup.setup, fixedPoint, ...over },
    }) as unknown as RoundStart
  return { ...setup, task, start }
}

type Party = {
  readonly id: string
  readonly driver: SecureRoundDriver
  readonly sent: SecaggAnswer[]
  readonly reports: SecureRoundReport[]
}

function party(id: string, seed: Uint8Array, server?: SecaggServer): Party {
  const sent: SecaggAnswer[] = []
  const reports: SecureRoundReport[] = []
  const driver = new SecureRoundDriver({
    crypto: nodeCrypto,
    identitySeed: seed,
    emit: (_, message) => {
      sent.push(message)
      server?.receive(id, overTheWire(message))
    },
    report: (r) => reports.push(r),
  })
  return { id, driver, sent, reports }
}

/** A promise with its resolve, for inputs that arrive when the test says (training finishing). */
function later<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

describe('the participant driver of secure rounds', () => {
  it('three drivers and the coordinator’s server complete a round whose sum is the sum of their inputs', async () => {
    const r = roundOf()
    const server = new SecaggServer({ crypto: nodeCrypto, context: r.context })
    const parties = r.ids.map((id, i) => party(id, r.seeds[i] as Uint8Array, server))
    const inputs = structuredInputs(3, dim)
    parties.forEach((p, i) => {
      expect(p.driver.start(r.task, r.start(), async () => inputs[i] as Uint32Array)).toBe(true)
    })
    const relay = async (messages: ReadonlyMap<string, unknown>) => {
      await Promise.all(parties.map((p) => p.driver.relay(overTheWire(messages.get(p.id)))))
    }
    const adverts = server.closeAdvertise()
    if (!adverts.ok) throw new Error(adverts.reason)
    await relay(adverts.messages)
    const shares = server.closeShareKeys()
    if (!shares.ok) throw new Error(shares.reason)
    await relay(shares.messages)
    const requests = server.closeMaskedInput()
    if (!requests.ok) throw new Error(requests.reason)
    await relay(requests.messages)
    const outcome = await server.finish()
    if (!outcome.ok) throw new Error(outcome.reason)
    expect(Array.from(outcome.sum)).toEqual(Array.from(plainSum(inputs, dim)))
    for (const p of parties) {
      expect(p.sent.map((m) => m.stage)).toEqual(['advertise', 'share-keys', 'masked-input', 'unmask'])
      expect(p.reports).toEqual(
        ['advertise', 'share-keys', 'masked-input', 'unmask'].map((stage) => ({
          type: 'answered',
          round: r.setup.round,
          stage,
        })),
      )
    }
  })

  it('the masked input waits for the local training: nothing goes out until the input is there', async () => {
    const r = roundOf()
    const server = new SecaggServer({ crypto: nodeCrypto, context: r.context })
    const parties = r.ids.map((id, i) => party(id, r.seeds[i] as Uint8Array, server))
    const [slow, ...rest] = parties as [Party, ...Party[]]
    const training = later<Uint32Array>()
    slow.driver.start(r.task, r.start(), (fixed) => {
      expect(fixed).toEqual(fixedPoint)
      return training.promise
    })
    for (const p of rest) p.driver.start(r.task, r.start(), async () => new Uint32Array(dim))
    const adverts = server.closeAdvertise()
    if (!adverts.ok) throw new Error(adverts.reason)
    await Promise.all(parties.map((p) => p.driver.relay(overTheWire(adverts.messages.get(p.id)))))
    const shares = server.closeShareKeys()
    if (!shares.ok) throw new Error(shares.reason)
    const masking = slow.driver.relay(overTheWire(shares.messages.get(slow.id)))
    await Promise.all(rest.map((p) => p.driver.relay(overTheWire(shares.messages.get(p.id)))))
    expect(slow.sent.map((m) => m.stage)).toEqual(['advertise', 'share-keys'])
    training.resolve(new Uint32Array(dim))
    await masking
    expect(slow.sent.map((m) => m.stage)).toEqual(['advertise', 'share-keys', 'masked-input'])
  })

  it('a relay for another round is refused before any stage runs, and the participant is silent for the rest of the round', async () => {
    const r = roundOf()
    const p = party(r.ids[0] as string, r.seeds[0] as Uint8Array)
    p.driver.start(r.task, r.start(), async () => new Uint32Array(dim))
    await p.driver.relay({ taskId: r.setup.taskId, round: r.setup.round - 1, stage: 'advertise' })
    await p.driver.relay({ taskId: r.setup.taskId, round: r.setup.round, stage: 'advertise' })
    expect(p.sent.map((m) => m.stage)).toEqual(['advertise'])
    expect(p.reports.slice(1)).toEqual([
      {
        type: 'refused',
        round: r.setup.round,
        stage: null,
        message: `secagg relay.round: expected round ${r.setup.round}, got number ${r.setup.round - 1} (a message from another round)`,
      },
      { type: 'notice', message: 'ignored a secagg message: no secure round is open' },
    ])
  })

  it('a relay for a stage the coordinator never relays, or not an object at all, is refused with what arrived', async () => {
    const r = roundOf()
    const refusal = async (raw: unknown) => {
      const p = party(r.ids[0] as string, r.seeds[0] as Uint8Array)
      p.driver.start(r.task, r.start(), async () => new Uint32Array(dim))
      await p.driver.relay(raw)
      return p.reports.at(-1)
    }
    expect(await refusal({ taskId: r.setup.taskId, round: r.setup.round, stage: 'masked-input' })).toEqual({
      type: 'refused',
      round: r.setup.round,
      stage: null,
      message: 'secagg relay.stage: expected one of "advertise", "share-keys", "unmask", got "masked-input"',
    })
    expect(await refusal(new Uint8Array(4))).toMatchObject({
      type: 'refused',
      message: 'secagg relay: expected an object, got a Uint8Array of 4 bytes',
    })
  })

  it('a relay out of order is refused by the stage it names, and the round is left', async () => {
    const r = roundOf()
    const p = party(r.ids[0] as string, r.seeds[0] as Uint8Array)
    p.driver.start(r.task, r.start(), async () => new Uint32Array(dim))
    await p.driver.relay({
      taskId: r.setup.taskId,
      round: r.setup.round,
      stage: 'unmask',
      survived: new Uint8Array(1),
    })
    expect(p.reports.at(-1)).toMatchObject({ type: 'refused', stage: 'unmask' })
    expect(p.sent).toHaveLength(1)
  })

  it('a round whose setup does not fit the task is declined and nothing is sent', () => {
    const r = roundOf()
    const p = party(r.ids[0] as string, r.seeds[0] as Uint8Array)
    const other = { ...r.task, paramCount: params + 1 } as TaskInfo
    expect(p.driver.start(other, r.start(), async () => new Uint32Array(dim))).toBe(false)
    expect(p.sent).toEqual([])
    expect(p.reports).toEqual([
      {
        type: 'declined',
        round: r.setup.round,
        message: `round ${r.setup.round}: a secure vector of ${dim} words, expected ${dim + 1} for this task's head`,
      },
    ])
  })

  it('a round ended while its masked input is awaited sends nothing and reports no refusal', async () => {
    const r = roundOf()
    const server = new SecaggServer({ crypto: nodeCrypto, context: r.context })
    const parties = r.ids.map((id, i) => party(id, r.seeds[i] as Uint8Array, server))
    const training = later<Uint32Array>()
    for (const p of parties) p.driver.start(r.task, r.start(), () => training.promise)
    const adverts = server.closeAdvertise()
    if (!adverts.ok) throw new Error(adverts.reason)
    await Promise.all(parties.map((p) => p.driver.relay(overTheWire(adverts.messages.get(p.id)))))
    const shares = server.closeShareKeys()
    if (!shares.ok) throw new Error(shares.reason)
    const [first] = parties as [Party]
    const masking = first.driver.relay(overTheWire(shares.messages.get(first.id)))
    first.driver.end(null)
    training.resolve(new Uint32Array(dim))
    await masking
    expect(first.sent.map((m) => m.stage)).toEqual(['advertise', 'share-keys'])
    expect(first.reports.map((x) => x.type)).toEqual(['answered', 'answered'])
  })

  it('a new round leaves an unfinished one with a notice and starts afresh', () => {
    const r = roundOf()
    const p = party(r.ids[0] as string, r.seeds[0] as Uint8Array)
    p.driver.start(r.task, r.start(), async () => new Uint32Array(dim))
    p.driver.start(r.task, r.start(), async () => new Uint32Array(dim))
    expect(p.reports.map((x) => x.type)).toEqual(['answered', 'notice', 'answered'])
    expect(p.reports[1]).toEqual({
      type: 'notice',
      message: `round ${r.setup.round}: left unfinished for round ${r.setup.round}`,
    })
    expect(p.sent.map((m) => m.stage)).toEqual(['advertise', 'advertise'])
  })
})
