import { formatRecord, type RoundRecord } from '@fedtune/coordinator'
import { countEvaluation, pooledMetrics } from '@fedtune/model'
import { describe, expect, it } from 'vitest'

const record = (participants: RoundRecord['participants']): RoundRecord => ({
  round: 2,
  status: 'aggregated',
  reason: null,
  startedAt: '2026-12-02T10:00:00.000Z',
  durationMs: 1500,
  selected: ['a', 'b'],
  contributions: [],
  dropped: [],
  examples: 40,
  labelCounts: [20, 20],
  validation: null,
  test: null,
  participants,
  prior: null,
  best: null,
  warnings: [],
  survivors: ['a', 'b'],
})

describe('the round’s log line', () => {
  it("shows the participants' pooled figures for the head they received, and nothing when there are none", () => {
    // four validation examples, three right (class 1 scored 0.2 and 0.6 on class 0, 0.9 and 0.8 on class 1: ranked perfectly)
    const counts = countEvaluation(
      Float32Array.from([0.8, 0.2, 0.4, 0.6, 0.1, 0.9, 0.2, 0.8]),
      Int32Array.from([0, 0, 1, 1]),
      2,
    )
    expect(formatRecord(record(pooledMetrics(counts, 2)), 5)).toBe(
      "round 2/5  aggregated (securely: 2 participants, 40 examples)  participants' val ACC 0.750 BAL 0.750 AUC 1.000 (4)  1.5 s",
    )
    expect(formatRecord(record(null), 5)).toBe(
      'round 2/5  aggregated (securely: 2 participants, 40 examples)  1.5 s',
    )
  })
})
