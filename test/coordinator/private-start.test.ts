import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { privacySettingsFor, type RoundRecord, writeUnmaskingMark } from '@fedtune/coordinator'
import { openStore } from '@fedtune/coordinator/store'
import type { ModelCard } from '@fedtune/model'
import { formatEpsilon, paramCount, privacyStatement, type TaskInfo } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { readZip } from '../../cli/src/data/zip.ts'
import {
  connectTo,
  realTaskFile,
  sayHello,
  startMainCoordinator,
  startQuietCoordinator,
  testDatabase,
  testParticipant,
} from '../harness.ts'
import { fullBatchAccountant } from '../privacy-fixture.ts'
import { bearerFor } from '../test-store.ts'

/**
 * Issue 16 at the coordinator's start: a private task's noise is derived where the head's size is
 * known, said to every participant and printed with the privacy statement; a task whose privacy
 * cannot be met is refused with the numbers; and a run's privacy cannot change under it.
 */
describe('a coordinator started on a private task', () => {
  it('derives z, tells participants, and prints the privacy statement and the budget', async () => {
    const privacy = { unit: 'example', epsilon: 3, samplingRate: 0.1 }
    const c = await startMainCoordinator({ training: { rounds: 4 }, privacy })
    const task = await realTaskFile('main', { training: { rounds: 4 }, privacy }, c.outDir)
    if (task.privacy === null) throw new Error('expected a private task')
    const info = c.federation.task
    const expected = privacySettingsFor(
      { ...task, privacy: task.privacy },
      paramCount(info.head, info.backbone.embeddingDim),
    )
    if (!expected.ok) throw new Error('expected the task to be served')
    let joined: TaskInfo | undefined
    await sayHello(connectTo(c), {
      participant: 'hospital-a',
      onJoined: (t) => {
        joined = t
      },
    })
    expect(joined?.privacy).toEqual(expected.value.settings)
    expect(joined?.privacy).toMatchObject({
      unit: 'example',
      epsilon: 3,
      samplingRate: 0.1,
      stepsPerRound: 10,
    })
    const statement = privacyStatement(expected.value.settings)
    for (const line of statement) await c.line(new RegExp(`^privacy: ${literal(line)}$`))
    expect(await c.line(/^privacy budget:/)).toBe(
      'privacy budget: ε 0.00 of 3.00 spent (δ = 1e-5) over 0 rounds accounted; the run ends before a round that could pass it',
    )
    // the secure sum weighs every participant 1
    expect(await c.line(/^secure aggregation/)).toMatch(/every participant weighs 1$/)
  })

  it('ends the run as finished, saying why, before a round that could pass the budget', async () => {
    // z = 2, full batch, one step a round: the target lies between one round's ε and two rounds'
    const accountant = fullBatchAccountant(3)
    const epsilon = Number(((accountant.epsilonAfter([2]) + accountant.epsilonAfter([2, 2])) / 2).toFixed(4))
    const c = await startMainCoordinator({
      training: { rounds: 3 },
      participation: { minParticipants: 2, participantsPerRound: 2, gatherSeconds: 0 },
      privacy: { unit: 'example', epsilon, noiseMultiplier: 2 },
    })
    await Promise.all([testParticipant(c, 'a').joined, testParticipant(c, 'b').joined])
    expect(await c.line(/^round 1\/3/)).toContain(
      `  ε ${formatEpsilon(accountant.epsilonAfter([2]))}/${formatEpsilon(epsilon)}`,
    )
    await c.running.host.whenIdle()
    expect(await c.store.runs.get(c.run.id)).toMatchObject({
      state: 'finished',
      reason: expect.stringMatching(/^privacy budget: round 2 would take ε to \d\.\d\d > target \d\.\d\d/),
    })
    expect(c.lines.some((l) => l.startsWith('round 2/3'))).toBe(false)
    // the exported model's card states what its head's round had spent
    const zip = await c.app.inject({
      method: 'GET',
      url: `/api/runs/${c.run.id}/model`,
      headers: await bearerFor(c.store, 'viewer'),
    })
    expect(zip.statusCode).toBe(200)
    const files = readZip(new Uint8Array(zip.rawPayload), 'the model zip')
    const card = JSON.parse(new TextDecoder().decode(files.get('model-card.json'))) as ModelCard
    expect(card.privacy.differentialPrivacy).toEqual({
      unit: 'example',
      epsilon: accountant.epsilonAfter([2]),
      delta: 1e-5,
      target: epsilon,
      clipNorm: 1,
      noiseMultiplier: 2,
    })
    expect(card.privacy.secureAggregation).toMatchObject({ maxExamples: 1, clipNorm: 10 })
    expect(new TextDecoder().decode(files.get('README.md'))).toContain(
      `differential privacy: per example, ε = ${accountant.epsilonAfter([2]).toFixed(2)} at δ = 0.00001 spent up to this round`,
    )
  })

  it('says plainly that a task without privacy gives no guarantee', async () => {
    const c = await startMainCoordinator()
    await c.line(/^privacy: This task gives no differential-privacy guarantee\.$/)
    expect(c.lines.some((l) => l.startsWith('privacy budget'))).toBe(false)
  })

  it('refuses a target ε the rounds cannot meet, with the numbers, and the run fails saying so', async () => {
    const work = mkdtempSync(join(tmpdir(), 'fedtune-private-'))
    try {
      const task = await realTaskFile(
        'impossible',
        { training: { rounds: 10_000 }, privacy: { unit: 'example', epsilon: 0.01 } },
        work,
      )
      const database = await testDatabase()
      const start = startQuietCoordinator(task, work, database)
      await expect(start).rejects.toThrow(
        /^task impossible: privacy\.epsilon: expected an ε that 10000 rounds of 1 DP-SGD steps at q = 1 can meet with a noise multiplier up to 1000 \(even that spends ε = 0\.\d\d at δ = 0\.00001\).*, got number 0\.01$/,
      )
      const store = await openStore(database)
      try {
        const [run] = await store.runs.list({ task: 'impossible' })
        expect(run).toMatchObject({ state: 'failed', reason: expect.stringMatching(/privacy\.epsilon/) })
      } finally {
        await store.close()
      }
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  })
})

describe('a restarted coordinator', () => {
  it('keeps as failed, and accounts, a round whose unmasking the last coordinator asked for before it crashed', async () => {
    const work = mkdtempSync(join(tmpdir(), 'fedtune-private-'))
    try {
      const task = await realTaskFile('crashed', { privacy: { unit: 'example', epsilon: 3 } }, work)
      const database = await testDatabase()
      // the first coordinator opens the run (its initial head on disk), asks round 1's survivors
      // to unmask (its mark on disk) and dies before the round is kept
      const first = await startQuietCoordinator(task, work, database)
      const runId = (await first.store.runs.list({ task: 'crashed' }))[0]?.id as number
      await first.close()
      writeUnmaskingMark(join(work, 'run'), {
        round: 1,
        survivors: 3,
        selected: ['a', 'b', 'c'],
        startedAt: 1000,
      })
      const c = await startQuietCoordinator(task, work, database)
      try {
        const [kept] = await c.store.rounds.list<RoundRecord>(runId)
        const reason =
          "the coordinator stopped during the round's unmask stage (it did not close: a crash or a kill); its 3 survivors are accounted"
        expect(kept?.record).toMatchObject({
          round: 1,
          status: 'failed',
          reason,
          selected: ['a', 'b', 'c'],
          privacy: { unit: 'example', survivors: 3 },
        })
        const epsilon = kept?.record.privacy?.epsilon
        expect(epsilon).toBeGreaterThan(0)
        // the run goes on after it, its budget with it
        expect(c.federation.state).toMatchObject({ round: 1, failed: 1, accounted: [3] })
        expect(c.federation.privacy).toMatchObject({ epsilon, rounds: 1 })
        expect(readFileSync(join(work, 'run', 'rounds.jsonl'), 'utf8')).toContain(reason)
      } finally {
        await c.close()
      }
      // once kept, the mark counts no more: a second restart adds nothing
      const again = await startQuietCoordinator(task, work, database)
      try {
        expect((await again.store.rounds.list(runId)).map((r) => r.round)).toEqual([1])
        expect(again.federation.privacy).toMatchObject({ rounds: 1 })
      } finally {
        await again.close()
      }
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  })

  it('refuses to carry a run on under a task file whose privacy changed, saying old and new', async () => {
    const work = mkdtempSync(join(tmpdir(), 'fedtune-private-'))
    try {
      const before = await realTaskFile('changed', { privacy: { unit: 'example', epsilon: 3 } }, work)
      const after = await realTaskFile(
        'changed',
        { privacy: { unit: 'example', epsilon: 8, noiseMultiplier: 1.1 } },
        work,
      )
      const database = await testDatabase()
      const store = await openStore(database)
      try {
        const settings = JSON.parse(JSON.stringify(before))
        await store.tasks.submit({ name: 'changed', file: settings, submittedBy: 'test' })
        await store.runs.create({ task: 'changed', settings })
      } finally {
        await store.close()
      }
      const restart = (task: typeof before) => startQuietCoordinator(task, work, database)
      await expect(restart(after)).rejects.toThrow(
        /^task "changed" has an unfinished run \(\d+\) whose privacy this task file changes/,
      )
      await expect(restart(after)).rejects.toThrow(
        "whose privacy this task file changes (epsilon 3 → 8, noiseMultiplier derived → 1.1); a run's privacy cannot change mid-run: restore the file's privacy section, or pass --new-run to stop that run and start a new one",
      )
      const { privacy: _, ...withoutPrivacy } = before
      await expect(restart({ ...withoutPrivacy, privacy: null })).rejects.toThrow(
        'whose privacy this task file changes (unit example, epsilon 3, delta 0.00001, clipNorm 1, noiseMultiplier derived → no privacy section)',
      )
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  })
})

/** `text` as a literal in a regular expression. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
