import { type RoundStart, secureRoundContext, secureVectorLength, type TaskInfo } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

const task = {
  taskId: 'task-a',
  head: { layers: [], labels: ['normal', 'pneumonia'] },
  paramCount: 10,
} as unknown as TaskInfo
const setup = (over: Record<string, unknown> = {}) => ({
  taskId: 'task-a',
  round: 3,
  identityKeys: [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2), new Uint8Array(32).fill(3)],
  neighbourCount: 3,
  neighbourSeed: new Uint8Array(32),
  threshold: 2,
  dim: secureVectorLength(10, 2),
  ...over,
})
const round = (secagg: unknown) => ({ round: 3, secagg }) as unknown as RoundStart

describe("a participant's check of a secure round's setup", () => {
  it('gives the round context when the setup is for this task, round and head', () => {
    const context = secureRoundContext(task, round({ setup: setup(), fixedPoint: {} }))
    expect(context.ids).toHaveLength(3)
    // 10 parameters, n, 2 label counts and the 380 evaluation counts of 2 classes
    expect(context.dim).toBe(10 + 1 + 2 + 380)
  })

  it('expects a private task’s vector to be [Δ…, 1]: no counts in its sum', () => {
    const private_ = { ...task, privacy: { unit: 'example' } } as unknown as TaskInfo
    const context = secureRoundContext(private_, round({ setup: setup({ dim: 11 }), fixedPoint: {} }))
    expect(context.dim).toBe(10 + 1)
    expect(() => secureRoundContext(private_, round({ setup: setup(), fixedPoint: {} }))).toThrow(
      /a secure vector of 393 words, expected 11/,
    )
  })

  it('refuses a round without secure aggregation: nothing goes out in the clear', () => {
    expect(() => secureRoundContext(task, round(null))).toThrow(/round 3 came without secure aggregation/)
  })

  it('refuses a setup for another task or round, or a vector of another length', () => {
    expect(() => secureRoundContext(task, round({ setup: setup({ taskId: 'task-b' }) }))).toThrow(
      /setup is for task task-b round 3, expected task task-a/,
    )
    expect(() => secureRoundContext(task, round({ setup: setup({ round: 4 }) }))).toThrow(/task-a round 4/)
    expect(() => secureRoundContext(task, round({ setup: setup({ dim: 15 }) }))).toThrow(
      /a secure vector of 15 words, expected 393/,
    )
  })
})
