import { type Dataset, initHead, seededRandom, trainHead } from '@fedtune/model'
import { initBackend } from '@fedtune/model/node'
import type { HeadSpec, TrainingSettings } from '@fedtune/protocol'
import { beforeAll, describe, expect, it } from 'vitest'

beforeAll(async () => {
  await initBackend()
})

const head: HeadSpec = { layers: [], labels: ['a', 'b', 'c'] }
const dim = 6

/** One full-batch step of plain SGD at rate 1: Δ = −∇L over all of a site's data. */
const gradientStep: TrainingSettings = {
  epochs: 1,
  batchSize: 65536,
  optimizer: 'sgd',
  learningRate: 1,
  classWeights: 'none',
  loss: 'logit-adjusted',
  prior: [0.5, 0.3, 0.2],
  seed: 1,
}

function site(labels: readonly number[], seed: number): Dataset {
  const random = seededRandom(seed)
  const x = Float32Array.from({ length: labels.length * dim }, () => random() * 2 - 1)
  return { x, y: Int32Array.from(labels), n: labels.length, dim }
}

function union(sites: readonly Dataset[]): Dataset {
  const n = sites.reduce((a, s) => a + s.n, 0)
  const x = new Float32Array(n * dim)
  const y = new Int32Array(n)
  let at = 0
  for (const s of sites) {
    x.set(s.x, at * dim)
    y.set(s.y, at)
    at += s.n
  }
  return { x, y, n, dim }
}

const delta = (after: Float32Array, before: Float32Array) => after.map((w, i) => w - (before[i] as number))

describe('federated gradients (the recipe for label skew)', () => {
  it('the example-weighted mean of the sites’ full-batch steps is the step on all their data, however skewed', () => {
    // Three single-class sites: no site alone can say where a boundary lies.
    const sites = [site(Array(40).fill(0), 1), site(Array(25).fill(1), 2), site(Array(10).fill(2), 3)]
    const w = initHead(head, dim, 7)
    const central = delta(trainHead(head, dim, w, union(sites), gradientStep).weights, w)
    const mean = new Float64Array(w.length)
    for (const s of sites) {
      const d = delta(trainHead(head, dim, w, s, gradientStep).weights, w)
      for (let i = 0; i < d.length; i++) mean[i] = (mean[i] as number) + ((d[i] as number) * s.n) / 75
    }
    for (let i = 0; i < w.length; i++) expect(mean[i]).toBeCloseTo(central[i] as number, 5)
    expect(Math.max(...central.map(Math.abs))).toBeGreaterThan(1e-3)
  })

  it('a single-class site moves the head under the federation’s prior, where its own prior gives it no gradient', () => {
    const only = site(Array(30).fill(1), 4)
    const w = initHead(head, dim, 7)
    const federation = delta(trainHead(head, dim, w, only, gradientStep).weights, w)
    const own = delta(trainHead(head, dim, w, only, { ...gradientStep, prior: null }).weights, w)
    expect(Math.max(...federation.map(Math.abs))).toBeGreaterThan(1e-3)
    expect(Math.max(...own.map(Math.abs))).toBe(0)
  })

  it('a prior equal to the site’s own label mix trains exactly as the default does', () => {
    const data = site([0, 0, 1, 2, 2, 2, 2, 1, 0, 2], 5)
    const w = initHead(head, dim, 7)
    const own = trainHead(head, dim, w, data, { ...gradientStep, prior: null }).weights
    const given = trainHead(head, dim, w, data, { ...gradientStep, prior: [0.3, 0.2, 0.5] }).weights
    for (let i = 0; i < w.length; i++) expect(given[i]).toBeCloseTo(own[i] as number, 6)
  })
})
