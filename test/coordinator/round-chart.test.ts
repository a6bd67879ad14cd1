import { type RoundRecord, roundChart } from '@fedtune/coordinator'
import { type ClinicalMetrics, evaluatePredictions } from '@fedtune/model'
import { describe, expect, it } from 'vitest'
import { clinical } from '../clinical-fixture.ts'

/** Metrics of 20 examples of class 0, `accuracy` of them predicted right. */
const withAccuracy = (accuracy: number): ClinicalMetrics => {
  const right = Math.round(accuracy * 20)
  const probs = Float32Array.from({ length: 40 }, (_, i) => (i >> 1 < right === (i % 2 === 0) ? 0.9 : 0.1))
  return evaluatePredictions(probs, new Int32Array(20), 2)
}

const record = (round: number, accuracy: number | null): RoundRecord => ({
  round,
  status: accuracy === null ? 'failed' : 'aggregated',
  reason: accuracy === null ? 'deadline' : null,
  startedAt: '',
  durationMs: 1,
  selected: [],
  contributions: [],
  dropped: [],
  examples: 10,
  validation: accuracy === null ? null : clinical(accuracy - 0.02, accuracy + 0.03, 50),
  test: accuracy === null ? null : clinical(accuracy, accuracy + 0.05, 100),
  participants: accuracy === null ? null : withAccuracy(accuracy - 0.05),
  prior: null,
  best: null,
  warnings: [],
})

describe('the round chart', () => {
  it('draws one line per metric through every aggregated round and marks failed rounds', () => {
    const svg = roundChart([record(1, 0.8), record(2, null), record(3, 0.85), record(4, 0.9)], 'task <x>')
    expect(svg.startsWith('<svg')).toBe(true)
    const lines = [...svg.matchAll(/<polyline[^>]*points="([^"]+)"/g)].map(
      (m) => (m[1] as string).split(' ').length,
    )
    // validation ACC and AUC, test ACC and AUC, the participants' pooled ACC
    expect(lines).toEqual([3, 3, 3, 3, 3])
    expect(svg.match(/✕/g)).toHaveLength(1)
    expect(svg).toContain('task &lt;x&gt;')
  })

  it('marks the best round by validation, as the last record names it', () => {
    const last = { ...record(3, 0.85), best: { round: 2, value: 0.9 } }
    const svg = roundChart([record(1, 0.8), record(2, 0.9), last], 't')
    const star = /<text x="([0-9.]+)"[^>]*>★ best<\/text>/.exec(svg)
    const second = /<text x="([0-9.]+)"[^>]*>2<\/text>/.exec(svg)
    expect(star?.[1]).toBe(second?.[1])
    expect(roundChart([record(1, 0.8)], 't')).not.toContain('★')
  })

  it('puts a higher accuracy higher on the chart', () => {
    const svg = roundChart([record(1, 0.6), record(2, 0.9)], 't')
    const acc = /<polyline[^>]*stroke="#1f77b4"[^>]*points="([^"]+)"/.exec(svg)?.[1] ?? ''
    const [first, second] = acc.split(' ').map((p) => Number(p.split(',')[1]))
    expect(second).toBeLessThan(first as number)
  })
})

describe('the round chart of a private run', () => {
  const privacy = (epsilon: number, survivors: number) => ({
    unit: 'participant' as const,
    epsilon,
    delta: 1e-5,
    target: 3,
    survivors,
  })
  // round 2 failed before its unmasking: it released nothing and ε stays
  const records: RoundRecord[] = [
    { ...record(1, 0.8), privacy: privacy(1, 4) },
    { ...record(2, null), privacy: privacy(1, 0) },
    { ...record(3, 0.85), privacy: privacy(2, 4) },
  ]

  it('charts ε spent after every round, below the metrics on the same round axis, against the target', () => {
    const svg = roundChart(records, 't')
    expect(svg).toMatch(/^<svg [^>]*height="450" viewBox="0 0 640 450"/)
    const points = (/<polyline class="epsilon"[^>]*points="([^"]+)"/.exec(svg)?.[1] ?? '')
      .split(' ')
      .map((p) => p.split(',').map(Number) as [number, number])
    expect(points).toHaveLength(3)
    // the same x as each round's label on the axis
    for (const [i, [px]] of points.entries()) {
      const label = new RegExp(`<text x="([0-9.]+)"[^>]*>${i + 1}</text>`).exec(svg)
      expect(px).toBeCloseTo(Number(label?.[1]), 1)
    }
    // heights in proportion: ε over the target, measured from the 0 line
    const zero = Number(/<line class="epsilon-zero"[^>]*y1="([0-9.]+)"/.exec(svg)?.[1])
    const target = Number(/<line class="epsilon-target"[^>]*y1="([0-9.]+)"/.exec(svg)?.[1])
    expect(points.map(([, py]) => (zero - py) / (zero - target))).toEqual([
      expect.closeTo(1 / 3, 2),
      expect.closeTo(1 / 3, 2),
      expect.closeTo(2 / 3, 2),
    ])
    expect([...svg.matchAll(/<title>([^<]+)<\/title>/g)].map((m) => m[1])).toEqual([
      'round 1: ε 1.00 of 3.00',
      'round 2: ε 1.00 of 3.00',
      'round 3: ε 2.00 of 3.00',
    ])
    expect(svg).toContain('target ε')
    expect(svg).toContain('privacy budget spent (ε at δ = 1e-5)')
    // the metrics keep their lines
    expect(svg.match(/<polyline /g)).toHaveLength(6)
  })

  it('a run without privacy is charted as before: no ε, no panel', () => {
    const plain = records.map((r) => ({ ...r, privacy: null }))
    const svg = roundChart(plain, 't')
    expect(svg).toMatch(/^<svg [^>]*height="320" viewBox="0 0 640 320"/)
    expect(svg).not.toContain('ε')
    const kept = records.map(({ privacy: _, ...r }) => r)
    expect(roundChart(kept, 't')).toBe(svg)
  })
})
