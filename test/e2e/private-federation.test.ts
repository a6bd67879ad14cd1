import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  createLogger,
  historyFile,
  Participant,
  type ParticipantEnd,
  privacyLedgerFile,
  readHistory,
  readPrivacyLedger,
} from '@fedtune/client-node'
import { issueInvite } from '@fedtune/coordinator'
import { epsilonOf, formatEpsilon, privacyStatement } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type MainCoordinator, startMainCoordinator } from '../harness.ts'
import { splitPneumonia } from '../pneumonia-split.ts'

/**
 * Participant-level privacy end to end: a coordinator on a private task (the noise derived from the
 * target ε) and three hospital clients on PneumoniaMNIST folders, two secure rounds. Each hospital
 * clips, rounds and noises its own update before masking, keeps each round in its ledger before it
 * goes out and says ε spent; the coordinator aggregates the noisy sum, and the ε it accounts from
 * public facts (three survivors, the task's minimum) is the hospitals' own to the last digits.
 */
let work: string
let data: string

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fedtune-private-federation-'))
  data = join(work, 'data')
  await splitPneumonia(data, { hospitals: 3, perHospital: 30, testLimit: 40, valLimit: 20, seed: 16 })
}, 120_000)

afterAll(() => rmSync(work, { recursive: true, force: true }))

/** Hospital clients `numbers` of `c`, enrolled first, each with its own cache (`cache-<what>-<i>`) and its lines kept. */
async function hospitalsOf(c: MainCoordinator, numbers: readonly number[], what: string) {
  const lines = new Map<string, string[]>()
  const hospitals = await Promise.all(
    numbers.map(async (i) => {
      const name = `hospital-${i}`
      const identitySeed = nodeCrypto.randomBytes(32)
      await c.enrol(name, 'hospital', nodeCrypto.ed25519PublicKey(identitySeed))
      const said: string[] = []
      lines.set(name, said)
      return new Participant({
        coordinatorUrl: c.url,
        dataDir: join(data, name),
        cacheDir: join(work, `cache-${what}-${i}`),
        name,
        valFraction: 0.1,
        agent: 'test',
        log: createLogger('text', (line) => void said.push(line.trimEnd())),
        progress: undefined,
        identitySeed,
        allowPlaintext: false,
      })
    }),
  )
  return { hospitals, lines }
}

describe('a federation under participant-level differential privacy', () => {
  it('three hospitals noise their own updates, keep and say what they spent, and agree with the coordinator’s ε', async () => {
    const c = await startMainCoordinator({
      head: { labels: ['normal', 'pneumonia'] },
      training: { rounds: 2, localEpochs: 2, batchSize: 16, optimizer: 'adam', learningRate: 0.01 },
      participation: { minParticipants: 3, participantsPerRound: 3, gatherSeconds: 0 },
      evaluation: { test: join(data, 'test'), validation: join(data, 'validation') },
      privacy: { unit: 'participant', epsilon: 8, delta: 1e-5, clipNorm: 0.5 },
    })
    const { hospitals, lines } = await hospitalsOf(c, [1, 2, 3], 'participant')
    const ends: ParticipantEnd[] = await Promise.all(hospitals.map((h) => h.done))
    expect(ends.map((e) => e.how)).toEqual(['finished', 'finished', 'finished'])
    const task = c.federation.task
    const privacy = task.privacy
    if (privacy?.unit !== 'participant') throw new Error('expected participant-level privacy')
    const records = [1, 2].map((n) => c.records.find((r) => r.round === n))
    for (const [i, name] of ['hospital-1', 'hospital-2', 'hospital-3'].entries()) {
      const said = lines.get(name) ?? []
      // the statement first, right after the join
      const joined = said.findIndex((l) => l.startsWith('joined task "main"'))
      expect(said.slice(joined + 1, joined + 1 + privacyStatement(privacy).length)).toEqual(
        privacyStatement(privacy),
      )
      // both rounds kept, one event each at the round's scale, and said
      const kept = readPrivacyLedger(
        privacyLedgerFile(join(work, `cache-participant-${i + 1}`), task.taskId, name),
      )
      expect(kept.map((k) => k.round)).toEqual([1, 2])
      expect(kept[0]?.event).toMatchObject({
        kind: 'distributed-discrete-gaussian',
        participants: 3,
        dimension: task.paramCount,
      })
      for (const round of [1, 2]) {
        const mine = epsilonOf(
          kept.slice(0, round).map((k) => k.event),
          privacy.delta,
        )
        expect(said).toContain(`round ${round}: ε spent ${formatEpsilon(mine)} of 8.00 (δ 1e-5)`)
        // the coordinator accounts the same rounds from public facts: three survivors, the task's minimum
        expect(records[round - 1]?.privacy?.epsilon).toBeCloseTo(mine, 9)
        // and after the round each hospital shows the coordinator's figure beside its own
        expect(said).toContain(
          `round ${round}: ε spent ${formatEpsilon(mine)} of 8.00 (δ 1e-5) by this hospital's ledger (${round} round${round === 1 ? '' : 's'} it released, each at the worst case of 3 survivors) · the coordinator reports ε ${formatEpsilon(records[round - 1]?.privacy?.epsilon ?? Number.NaN)} (every round the federation released, with its survivors)`,
        )
      }
      // its history keeps both figures per round: its ledger's and the coordinator's report
      const history = readHistory(historyFile(join(work, `cache-participant-${i + 1}`), task.taskId, name))
      expect(history.entries.map((e) => [e.round, e.privacy, e.coordinatorEpsilon])).toEqual(
        [1, 2].map((round) => [
          round,
          epsilonOf(
            kept.slice(0, round).map((k) => k.event),
            privacy.delta,
          ),
          records[round - 1]?.privacy?.epsilon,
        ]),
      )
    }
    for (const record of records) expect(record?.survivors).toHaveLength(3)
    // the two accountants agree: no hospital warns that the coordinator spent more
    expect([...lines.values()].flat().filter((l) => l.includes('WARNING'))).toEqual([])
  }, 600_000)
})

describe('a hospital that cannot draw its noise', () => {
  it('on a platform without a cryptographic random source fails the round loudly, untrained, sends nothing and keeps nothing; the others aggregate', async () => {
    const c = await startMainCoordinator({
      head: { labels: ['normal', 'pneumonia'] },
      training: { rounds: 1, localEpochs: 1, batchSize: 16, optimizer: 'adam', learningRate: 0.01 },
      // round 1 waits for all three, then two survivors are enough
      participation: { minParticipants: 2, participantsPerRound: 3, gatherSeconds: 600 },
      privacy: { unit: 'participant', epsilon: 8, delta: 1e-5, clipNorm: 0.5 },
    })
    const { hospitals } = await hospitalsOf(c, [1, 2], 'no-random')
    // hospital 3 is `fedtune client` in a process whose globalThis.crypto has no getRandomValues
    const repo = fileURLToPath(new URL('../../', import.meta.url))
    const invite = await issueInvite(c.store, { task: 'main', participant: 'hospital-3', createdBy: 'test' })
    const cache = join(work, 'cache-no-random-3')
    const child = spawn(
      process.execPath,
      [
        '--import',
        new URL('./without-random-source.mjs', import.meta.url).href,
        join(repo, 'cli', 'bin', 'fedtune.js'),
        'client',
        '--coordinator',
        c.url,
        '--data',
        join(data, 'hospital-3'),
        '--cache',
        cache,
        '--name',
        'hospital-3',
        '--invite',
        invite.code,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let said = ''
    child.stdout.on('data', (b: Buffer) => {
      said += b.toString()
    })
    child.stderr.on('data', (b: Buffer) => {
      said += b.toString()
    })
    const exit = new Promise<number | null>((resolve) => child.once('exit', resolve))
    const ends = await Promise.all(hospitals.map((h) => h.done))
    expect(ends.map((e) => e.how)).toEqual(['finished', 'finished'])
    expect(await exit).not.toBe(0)
    expect(said).toMatch(
      /round 1: cannot take part privately: privacy noise needs a cryptographic random source \(crypto\.getRandomValues\), and this platform has none: refusing to add noise from a weaker one/,
    )
    expect(said).not.toMatch(/round 1: trained on/)
    const [record] = c.records
    expect(record).toMatchObject({ round: 1, status: 'aggregated' })
    expect(record?.selected).toContain('hospital-3')
    expect([...(record?.survivors ?? [])].sort()).toEqual(['hospital-1', 'hospital-2'])
    // and it kept no round in its ledger: it released nothing
    const ledger = privacyLedgerFile(cache, c.federation.task.taskId, 'hospital-3')
    expect(existsSync(ledger) ? readPrivacyLedger(ledger) : []).toEqual([])
  }, 600_000)
})

describe('a federation under example-level differential privacy', () => {
  it('each hospital trains with DP-SGD, keeps its steps and says ε, as the coordinator accounts it', async () => {
    const c = await startMainCoordinator({
      head: { labels: ['normal', 'pneumonia'] },
      training: { rounds: 2, localEpochs: 1, batchSize: 8, optimizer: 'sgd', learningRate: 0.5 },
      participation: { minParticipants: 2, participantsPerRound: 2, gatherSeconds: 0 },
      evaluation: { test: join(data, 'test'), validation: join(data, 'validation') },
      privacy: { unit: 'example', epsilon: 3, delta: 1e-5, clipNorm: 1, samplingRate: 0.25 },
    })
    const { hospitals, lines } = await hospitalsOf(c, [1, 2], 'example')
    const ends = await Promise.all(hospitals.map((h) => h.done))
    expect(ends.map((e) => e.how)).toEqual(['finished', 'finished'])
    const privacy = c.federation.task.privacy
    if (privacy?.unit !== 'example') throw new Error('expected example-level privacy')
    // a private task with a validation set: the hospitals got its mean embedding and trained on centred inputs
    expect(c.federation.task.inputCentre).toHaveLength(c.federation.task.backbone.embeddingDim)
    for (const [i, name] of ['hospital-1', 'hospital-2'].entries()) {
      const kept = readPrivacyLedger(privacyLedgerFile(join(work, `cache-example-${i + 1}`), 'main', name))
      expect(kept.map((k) => k.event)).toEqual(
        [1, 2].map(() => ({
          kind: 'subsampled-gaussian',
          steps: privacy.stepsPerRound,
          samplingRate: 0.25,
          noiseMultiplier: privacy.noiseMultiplier,
        })),
      )
      const said = lines.get(name) ?? []
      expect(said).toContainEqual(
        expect.stringMatching(/^round 1: trained on \d+ examples with DP-SGD \(4 steps\), loss /),
      )
      for (const round of [1, 2]) {
        const mine = epsilonOf(
          kept.slice(0, round).map((k) => k.event),
          1e-5,
        )
        expect(said).toContain(`round ${round}: ε spent ${formatEpsilon(mine)} of 3.00 (δ 1e-5)`)
        expect(c.records.find((r) => r.round === round)?.privacy?.epsilon).toBeCloseTo(mine, 9)
      }
    }
  }, 600_000)

  it('a hospital whose few images make the task’s δ meaningless refuses the task for good, with both figures', async () => {
    // 27 training images: 1/n = 3.7e-2, not above δ = 5e-2
    const c = await startMainCoordinator({
      head: { labels: ['normal', 'pneumonia'] },
      training: { rounds: 1, localEpochs: 1, batchSize: 8 },
      participation: { minParticipants: 2, participantsPerRound: 2, gatherSeconds: 0 },
      privacy: { unit: 'example', epsilon: 3, delta: 0.05, clipNorm: 1, samplingRate: 0.25 },
    })
    const { hospitals } = await hospitalsOf(c, [3], 'few')
    await expect(hospitals[0]?.done).rejects.toMatchObject({
      final: true,
      message: expect.stringMatching(
        /^refusing the task: the task's δ = 5e-2 is not below 1\/n = 3\.7e-2 for this participant's n = 27 training examples/,
      ),
    })
  }, 600_000)
})
