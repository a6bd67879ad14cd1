import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseTaskFile, readTaskFile, TaskFileError, taskFileSchema } from '@fedtune/coordinator'
import { ProtocolError, parseHeadSpec } from '@fedtune/protocol'
import * as fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import {
  CASE_BOUND_MS,
  CaseTally,
  cpuMs,
  inputsLike,
  outcome,
  outcomeAsync,
  reportTally,
  runs,
} from './fuzz.ts'

/**
 * The task file (coordinator/src/tasks/task-file.ts) is the operator's input, not the network's, but a
 * typo in it must still end in a TaskFileError that names the field, never a TypeError or a
 * start-up that hangs. Its refusals are TaskFileError, not ProtocolError.
 *
 * Cases in this file: 15,300 (of the ≥ 100,000 the fuzz files run together), and 3,000 heads compared
 * between the schema and parseHeadSpec.
 */
const tally = new CaseTally()
afterAll(() => reportTally('task file', tally))

const isTaskFileRefusal = (e: unknown) => e instanceof TaskFileError && e.message.length > 0

const valid = {
  name: 'pneumonia',
  description: 'Chest X-rays, pneumonia or not',
  backbone: { source: '../backbones/mobilenet', sha256: 'ab'.repeat(32) },
  head: {
    layers: [
      { type: 'dense', units: 16, activation: 'relu' },
      { type: 'dropout', rate: 0.2 },
    ],
    labels: ['normal', 'pneumonia'],
    seed: 3,
  },
  training: {
    rounds: 5,
    localEpochs: 2,
    batchSize: 32,
    optimizer: 'adam',
    learningRate: 0.001,
    loss: 'logit-adjusted',
    labelPrior: 'federation',
    server: { optimizer: 'adam', learningRate: 0.01, beta1: 0.9, beta2: 0.99, epsilon: 0.001 },
  },
  participation: {
    minParticipants: 3,
    participantsPerRound: 5,
    roundDeadlineSeconds: 60,
    joinTimeoutSeconds: 600,
    gatherSeconds: 5,
    browsers: { enabled: true, maxPerRound: 2 },
  },
  evaluation: { validation: 'data/validation', test: 'data/test' },
  aggregation: {
    mode: 'secure',
    clipNorm: 10,
    maxExamples: 10_000,
    expectedDropout: 0.1,
    neighbours: 5,
    threshold: 3,
    stageDeadlineSeconds: 30,
  },
}
const plaintext = {
  ...valid,
  training: { rounds: 3, loss: 'cross-entropy', server: { optimizer: 'sgd', learningRate: 1 } },
  aggregation: { mode: 'plaintext-debug' },
}
const minimal = { name: 'x', backbone: valid.backbone, head: { labels: ['a', 'b'] }, training: { rounds: 1 } }

/** JSON text of a generated value; a BigInt or deep nesting, which JSON.stringify refuses, as that refusal's text. */
function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'undefined'
  } catch (error) {
    return `not JSON: ${(error as Error).message}`
  }
}

describe('fuzzing the task file: every input is a task or a TaskFileError that says what is wrong', () => {
  it('parsed from a value', () => {
    fc.assert(
      fc.property(inputsLike(valid, plaintext, minimal), (raw) => {
        outcome(tally, () => parseTaskFile(raw, '/srv/tasks'), isTaskFileRefusal)
      }),
      runs(12_000),
    )
  })

  it('secure aggregation over any participation: the parameters derived from it come in bounded time', () => {
    // The search for k and t (secaggParameters) runs over the neighbourhood sizes; a large round at
    // a high expected dropout must not make it quadratic in participantsPerRound.
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 100_000 }),
        fc.double({ min: 0, max: 0.9, noNaN: true }),
        fc.integer({ min: 1, max: 40_000 }),
        fc.option(fc.integer({ min: 2, max: 255 })),
        (participants, expectedDropout, maxExamples, neighbours) => {
          const task = {
            ...minimal,
            participation: { minParticipants: 2, participantsPerRound: participants },
            aggregation: { clipNorm: 1, maxExamples, expectedDropout, ...(neighbours ? { neighbours } : {}) },
          }
          outcome(tally, () => parseTaskFile(task, '/srv/tasks'), isTaskFileRefusal)
        },
      ),
      { ...runs(3000), examples: [[100_000, 0.9, 1, null]] },
    )
  })

  it('the schema accepts a head exactly when parseHeadSpec does, and reads it the same (a layer’s unknown fields aside)', () => {
    const plain = { ...minimal, aggregation: { mode: 'plaintext-debug' } }
    let compared = 0
    fc.assert(
      fc.property(inputsLike(valid.head, minimal.head), (raw) => {
        // The seed is the task file's, not parseHeadSpec's: left out of the comparison.
        const head =
          typeof raw === 'object' && raw !== null && !Array.isArray(raw)
            ? {
                layers: (raw as Record<string, unknown>).layers,
                labels: (raw as Record<string, unknown>).labels,
              }
            : raw
        const parsed = taskFileSchema.safeParse({ ...plain, head })
        const issues = parsed.success ? [] : parsed.error.issues.filter((i) => i.path[0] === 'head')
        // The schema refuses a field a layer does not have; parseHeadSpec ignores it.
        if (issues.some((i) => i.code === 'unrecognized_keys')) return
        let spec: unknown = null
        try {
          const h = head as { layers?: unknown; labels?: unknown } | null
          spec = parseHeadSpec(
            typeof h === 'object' && h !== null ? { layers: h.layers ?? [], labels: h.labels } : h,
          )
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error
        }
        compared++
        expect(issues.length === 0, `schema: ${issues.map((i) => i.message).join('; ')}`).toBe(spec !== null)
        if (parsed.success && spec !== null) {
          const { layers, labels } = parsed.data.head
          expect({ layers, labels }).toEqual(spec)
        }
      }),
      runs(3000),
    )
    expect(compared).toBeGreaterThan(1000)
  })

  it('read from a file of any text', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedtune-fuzz-task-'))
    try {
      const text = fc.oneof(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.json({ maxDepth: 3 }),
        inputsLike(valid).map(jsonText),
        fc.constantFrom('', '{', '\uFEFF{}', 'null', '[]', '{"__proto__": {"name": "x"}}'),
      )
      let i = 0
      await fc.assert(
        fc.asyncProperty(text, async (content) => {
          const path = join(dir, `task-${i++ % 8}.json`)
          writeFileSync(path, content)
          await outcomeAsync(tally, () => readTaskFile(path), isTaskFileRefusal)
        }),
        runs(300),
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('what the fuzzing found, pinned', () => {
  it('a clipNorm of 5e-324 is refused at once, not a fixed point searched for forever', () => {
    const started = process.cpuUsage()
    expect(() => parseTaskFile({ ...minimal, aggregation: { clipNorm: 5e-324 } }, '/srv/tasks')).toThrow(
      /clipNorm number 5e-324 is too small for a fixed point/,
    )
    expect(cpuMs(started)).toBeLessThan(CASE_BOUND_MS)
  })

  it('a secure task of 100,000 participants at 90 % dropout is refused at once, not after two minutes of searching for k', () => {
    const started = process.cpuUsage()
    expect(() =>
      parseTaskFile(
        {
          ...minimal,
          participation: { minParticipants: 2, participantsPerRound: 100_000 },
          aggregation: { clipNorm: 1, maxExamples: 1, expectedDropout: 0.9 },
        },
        '/srv/tasks',
      ),
    ).toThrow(/above the 255 Shamir over GF\(2\^8\) allows/)
    expect(cpuMs(started)).toBeLessThan(CASE_BOUND_MS)
  })
})
