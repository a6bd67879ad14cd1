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
