import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger, Participant } from '@fedtune/client-node'
import type { ClinicalMetrics } from '@fedtune/model'
import { nodeCrypto } from '@fedtune/protocol/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runSimulateCommand } from '../../cli/src/simulate/simulate-command.ts'
import { testIo } from '../cli/test-io.ts'
import {
  type MainCoordinator,
  realTaskJson,
  startMainCoordinator,
  type TaskFileOverrides,
} from '../harness.ts'
import { splitPneumonia } from '../pneumonia-split.ts'

/**
 * `fedtune simulate` promises the federation a consortium would run, in one process: the same
 * training, hold-out, fixed point, sum and server step, only the sockets and the masks left out
 * (the masks cancel bit for bit). Here a real coordinator and three hospital clients federate over
 * real sockets through secure aggregation on PneumoniaMNIST folders, then `fedtune simulate` runs the
 * same task file on the same folders: it must choose the same round and report the same figures for
 * it, to the last bit, on validation and on test.
 */
const HOSPITALS = 3
let work: string
let data: string

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fedtune-simulate-vs-real-'))
  data = join(work, 'data')
  await splitPneumonia(data, { hospitals: HOSPITALS, perHospital: 30, testLimit: 40, valLimit: 24, seed: 21 })
}, 120_000)

afterAll(() => rmSync(work, { recursive: true, force: true }))

/** The task, run for real: every hospital in every round, so the simulation's fixed point is the run's. */
function task(training: Record<string, unknown>, head: Record<string, unknown>): TaskFileOverrides {
  return {
    head: { labels: ['normal', 'pneumonia'], seed: 9, ...head },
    training,
    participation: { minParticipants: HOSPITALS, participantsPerRound: HOSPITALS, gatherSeconds: 0 },
    evaluation: { validation: join(data, 'validation'), test: join(data, 'test'), metric: 'auc' },
  }
}

/** A real federation of the three hospital folders under `c`, to its end. */
async function federate(c: MainCoordinator, what: string): Promise<void> {
  const hospitals = await Promise.all(
    Array.from({ length: HOSPITALS }, async (_, i) => {
      const name = `hospital-${i + 1}`
      const identitySeed = nodeCrypto.randomBytes(32)
      await c.enrol(name, 'hospital', nodeCrypto.ed25519PublicKey(identitySeed))
      return new Participant({
        coordinatorUrl: c.url,
        dataDir: join(data, name),
        cacheDir: join(work, `cache-${what}-${i + 1}`),
        name,
        // the client's default hold-out, as `fedtune simulate --val-fraction` defaults to
        valFraction: 0.1,
        agent: 'test',
        log: createLogger('json', () => {}),
        progress: undefined,
        identitySeed,
        allowPlaintext: false,
      })
    }),
  )
  const ends = await Promise.all(hospitals.map((h) => h.done))
  expect(ends.map((e) => e.how)).toEqual(['finished', 'finished', 'finished'])
}

type Simulated = {
  federated: { chosen: number; ran: number; validation: ClinicalMetrics; test: ClinicalMetrics }
}

/** `fedtune simulate --json` on the run's own task file and the split's hospital folders. */
async function simulate(overrides: TaskFileOverrides, what: string): Promise<Simulated> {
  const file = join(work, `${what}.json`)
  writeFileSync(file, JSON.stringify(await realTaskJson('main', overrides)))
  const io = testIo()
  const code = await runSimulateCommand(
    [
      '--task',
      file,
      '--data',
      data,
      '--cache',
      join(work, 'simulate-cache'),
      '--reference-epochs',
      '1',
      '--json',
    ],
    io.io,
    null,
  )
  expect(io.stderr()).not.toMatch(/fedtune simulate:/)
  expect(code).toBe(0)
  return JSON.parse(io.stdout()) as Simulated
}

/** The real run against its simulation: every round aggregated securely from all three, the same best round and its figures. */
async function compare(overrides: TaskFileOverrides, what: string, rounds: number): Promise<void> {
  const c = await startMainCoordinator(overrides)
  try {
    await federate(c, what)
    const records = c.records
    expect(records.map((r) => [r.round, r.status, r.survivors?.length])).toEqual(
      Array.from({ length: rounds }, (_, i) => [i + 1, 'aggregated', HOSPITALS]),
    )
    const best = c.federation.best
    if (best === null) throw new Error('expected a best round by validation AUC')
    const chosen = records.find((r) => r.round === best.round)
    const simulated = (await simulate(overrides, what)).federated
    expect(simulated.ran).toBe(rounds)
    expect(simulated.chosen).toBe(best.round)
    // the same head, so every figure the same: AUC and calibration read each probability
    expect(simulated.validation).toEqual(chosen?.validation)
    expect(simulated.test).toEqual(chosen?.test)
    expect(simulated.validation.auc).toBe(best.value)
  } finally {
    await c.close()
  }
}

describe('fedtune simulate against a real federation of the same task', () => {
  it('FedAvg with local Adam epochs over shuffled batches and a dropout layer: the same best round and figures', async () => {
    await compare(
      task(
        { rounds: 3, localEpochs: 2, batchSize: 8, optimizer: 'adam', learningRate: 0.003 },
        {
          layers: [
            { type: 'dense', units: 16, activation: 'relu' },
            { type: 'dropout', rate: 0.2 },
          ],
        },
      ),
      'fedavg',
      3,
    )
  }, 300_000)

  it('the label-skew recipe (federated gradients, the federation’s prior, FedAdam, centred inputs): the same', async () => {
    await compare(
      task(
        {
          rounds: 4,
          localEpochs: 1,
          batchSize: 65536,
          optimizer: 'sgd',
          learningRate: 1,
          labelPrior: 'federation',
          server: { optimizer: 'adam', learningRate: 0.01 },
        },
        { layers: [{ type: 'dropout', rate: 0.1 }], inputCentre: 'validation' },
      ),
      'recipe',
      4,
    )
  }, 300_000)
})
