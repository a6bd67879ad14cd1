import { parseModelJson } from '@fedtune/model'
import * as fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { CaseTally, inputsLike, outcome, reportTally, runs } from './fuzz.ts'

/**
 * A participant parses the backbone's model.json it downloads before it can hash the weight files
 * it lists (model/src/model-json.ts), so these bytes reach a parser unverified: any of them gives
 * the list of weight files or an Error that names where the file came from, never a TypeError or
 * a RangeError.
 *
 * Cases in this file: 2,000 (of the ≥ 100,000 the fuzz files run together).
 */
const tally = new CaseTally()
afterAll(() => reportTally('model.json', tally))

const WHERE = 'http://coordinator/backbone/model.json'
const isRefusal = (e: unknown) =>
  e instanceof Error && e.name === 'Error' && e.message.startsWith(`${WHERE}: `)

const valid = {
  format: 'layers-model',
  modelTopology: { class_name: 'Functional', config: { layers: [] } },
  weightsManifest: [
    {
      paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'],
      weights: [{ name: 'k', shape: [2], dtype: 'float32' }],
    },
  ],
}
const text = (value: unknown) => {
  try {
    return JSON.stringify(value) ?? 'undefined'
  } catch (error) {
    return `not JSON: ${(error as Error).message}`
  }
}
const deepPaths = (depth: number) =>
  `{"modelTopology":{},"weightsManifest":[{"paths":[${'['.repeat(depth)}${']'.repeat(depth)}]}]}`

describe('fuzzing the backbone model.json a participant downloads: weight files or a refusal', () => {
  it('any bytes: mutated model.json, random JSON, random bytes, deep nesting', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          { weight: 4, arbitrary: inputsLike(valid).map((v) => new TextEncoder().encode(text(v))) },
          { weight: 1, arbitrary: fc.json({ maxDepth: 4 }).map((t) => new TextEncoder().encode(t)) },
          { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
          {
            weight: 1,
            arbitrary: fc.integer({ min: 1, max: 50_000 }).map((d) => new TextEncoder().encode(deepPaths(d))),
          },
        ),
        (bytes) => {
          outcome(tally, () => parseModelJson(bytes, WHERE).weightFiles, isRefusal)
        },
      ),
      runs(2000),
    )
  })

  it('a weight path nested fifty thousand arrays deep is refused by name, not with a RangeError', () => {
    expect(() => parseModelJson(new TextEncoder().encode(deepPaths(50_000)), WHERE)).toThrow(
      `${WHERE}: expected weight paths relative to model.json, got an array of 1 item`,
    )
  })
})
