import { parseTaskFile } from '@fedtune/coordinator'
import type { Dataset } from '@fedtune/model'
import { initBackend } from '@fedtune/model/node'
import { fixedPointFor, type HeadSpec, paramCount } from '@fedtune/protocol'
import {
  type FederationRecipe,
  type HeldOut,
  privateReference,
  type SimulatedPrivacy,
  simulatedPrivacy,
  simulateFederation,
  trainingPart,
} from 'fedtune/simulate'
import { beforeAll, describe, expect, it } from 'vitest'

const DIM = 6
const spec: HeadSpec = { layers: [], labels: ['a', 'b'] }
const params = paramCount(spec, DIM)

/** Two labels, each a Gaussian blob around ±1 on every axis (a fixed LCG: the data never changes). */
function blobs(n: number, seed: number): Dataset {
  let state = seed >>> 0
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return (state + 0.5) / 2 ** 32
  }
  const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform())
  const x = new Float32Array(n * DIM)
  const y = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    y[i] = i % 2
    for (let d = 0; d < DIM; d++) x[i * DIM + d] = (y[i] === 1 ? 1 : -1) * 0.7 + normal()
  }
  return { x, y, n, dim: DIM }
}

const sites = [blobs(120, 1), blobs(100, 2), blobs(140, 3)]
const heldOut: HeldOut = {
  validation: blobs(80, 4),
  test: blobs(80, 5),
  metric: 'auc',
  patience: null,
  prior: { fixed: [0.5, 0.5] },
  ordinal: false,
}

/** A private task as the coordinator parses it; its privacy as the simulation runs it. */
function privacyOf(rounds: number, privacy: object, participants = sites.length) {
  const task = parseTaskFile(
    {
      name: 'dp-sim',
      backbone: { source: 'b', sha256: 'ab'.repeat(32) },
      head: { labels: spec.labels },
      training: { rounds, labelPrior: 'validation' },
      evaluation: { validation: 'v', prior: 'validation' },
      participation: { participantsPerRound: participants, minParticipants: participants },
      privacy: { delta: 1e-5, ...privacy },
    },
    '/x',
  )
  if (task.privacy === null) throw new Error('expected a private task')
  return simulatedPrivacy({ ...task, privacy: task.privacy }, params)
}

function recipe(rounds: number, seed: number, privacy: SimulatedPrivacy | null): FederationRecipe {
  return {
    spec,
    inputDim: DIM,
    training: {
      epochs: 1,
      batchSize: 65536,
      optimizer: 'sgd',
      learningRate: 1,
      classWeights: 'none',
      loss: 'logit-adjusted',
    },
    labelPrior: { fixed: [0.5, 0.5] },
    server: { optimizer: 'adam', learningRate: 0.05, beta1: 0.9, beta2: 0.99, epsilon: 1e-3 },
    rounds,
    seed,
    fixedPoint: fixedPointFor({ participants: sites.length, maxExamples: 100_000, clipNorm: 10 }),
    valFraction: 0.1,
    privacy,
  }
}

beforeAll(async () => {
  await initBackend()
})

describe('fedtune simulate under differential privacy', () => {
  it('example unit: trains with DP-SGD, reports the ε its rounds spent, within the target', () => {
    const privacy = privacyOf(8, { unit: 'example', epsilon: 4, clipNorm: 1 })
    expect(privacy.settings.unit).toBe('example')
    const choice = simulateFederation(recipe(8, 3, privacy), sites, heldOut)
    expect(choice.ran).toBe(8)
    expect(choice.privacy).toMatchObject({
      unit: 'example',
      rounds: 8,
      target: 4,
      delta: 1e-5,
      stopped: null,
    })
    // z was derived as the smallest meeting ε over the 8 rounds: all of them spend (almost) all of it.
    expect(choice.privacy?.epsilon).toBeLessThanOrEqual(4)
    expect(choice.privacy?.epsilon).toBeGreaterThan(3.9)
    expect(choice.privacy?.noiseMultiplier).toBe(privacy.settings.noiseMultiplier)
    // Still learns: the blobs are far apart.
    expect(choice.test?.auc).toBeGreaterThan(0.8)
  })

  it('stops before the round that would take ε past the target (the coordinator’s rule)', () => {
    // z fixed by the file, too small for 30 rounds: the run ends when the next round would pass ε = 2.
    const privacy = privacyOf(30, { unit: 'example', epsilon: 2, clipNorm: 1, noiseMultiplier: 3 })
    const choice = simulateFederation(recipe(30, 3, privacy), sites, heldOut)
    const spent = choice.privacy
    expect(spent?.stopped).toBe('privacy budget')
    expect(spent?.rounds).toBe(choice.ran)
    expect(choice.ran).toBeGreaterThan(0)
    expect(choice.ran).toBeLessThan(30)
    expect(spent?.epsilon).toBeLessThanOrEqual(2)
    // One more round would have passed it.
    expect(privacy.budget.epsilonAfter(new Array(choice.ran + 1).fill(sites.length))).toBeGreaterThan(2)
  })

  it('is reproducible with the same seed, and its noise changes the result', () => {
    const privacy = privacyOf(5, { unit: 'example', epsilon: 1, clipNorm: 1 })
    const a = simulateFederation(recipe(5, 7, privacy), sites, heldOut)
    const b = simulateFederation(recipe(5, 7, privacy), sites, heldOut)
    expect(b.weights).toEqual(a.weights)
    expect(b.privacy).toEqual(a.privacy)
    // Another seed draws other noise (and head init); no privacy at the same seed trains another head.
    const other = simulateFederation(recipe(5, 8, privacy), sites, heldOut)
    expect(other.weights).not.toEqual(a.weights)
    const plain = simulateFederation(recipe(5, 7, null), sites, heldOut)
    expect(plain.privacy).toBeNull()
    expect(plain.weights).not.toEqual(a.weights)
  })

  it('participant unit: each site clips and adds its discrete Gaussian share; the accountant counts the survivors', () => {
    const privacy = privacyOf(4, { unit: 'participant', epsilon: 8, clipNorm: 0.5 })
    expect(privacy.settings.unit).toBe('participant')
    expect(privacy.fixedPoint).toMatchObject({ clipNorm: 0.5, maxExamples: 1 })
    const a = simulateFederation(recipe(4, 3, privacy), sites, heldOut)
    expect(a.privacy).toMatchObject({ unit: 'participant', rounds: 4, stopped: null })
    expect(a.privacy?.epsilon).toBeLessThanOrEqual(8)
    // Accounted with the survivors that contributed: all three, every round.
    expect(a.privacy?.epsilon).toBe(privacy.budget.epsilonAfter([3, 3, 3, 3]))
    const b = simulateFederation(recipe(4, 3, privacy), sites, heldOut)
    expect(b.weights).toEqual(a.weights)
  })

  it('the centralized DP-SGD reference pools the training parts with the same q, C, z and rounds, so the same ε', () => {
    const privacy = privacyOf(6, { unit: 'example', epsilon: 3, clipNorm: 1 })
    const federation = recipe(6, 3, privacy)
    const parts = sites.map((s) => trainingPart(s, federation.valFraction))
    const central = privateReference(federation, parts, heldOut)
    const federated = simulateFederation(federation, sites, heldOut)
    expect(central.ran).toBe(6)
    expect(central.privacy?.epsilon).toBe(federated.privacy?.epsilon)
    expect(central.privacy?.noiseMultiplier).toBe(federated.privacy?.noiseMultiplier)
    expect(() => privateReference(recipe(6, 3, null), parts, heldOut)).toThrow(/example-level privacy/)
  })
})
