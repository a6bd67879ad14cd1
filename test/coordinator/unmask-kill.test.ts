import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  accountedRounds,
  headFile,
  parseTaskFile,
  privacySettingsFor,
  type RoundRecord,
  readUnmaskingMark,
  unmaskingMarkFile,
} from '@fedtune/coordinator'
import { openStore } from '@fedtune/coordinator/store'
import { readBackboneFolder } from '@fedtune/model/node'
import { describe, expect, it } from 'vitest'
import {
  enrolIn,
  silentFrom,
  type Target,
  type TestParticipant,
  testDatabase,
  testParticipant,
} from '../harness.ts'
import { backboneDir, coordinatorProcess } from './coordinator-process.ts'

/**
 * Issue 16: a private secure round's sum may be revealed from the moment its unmask shares are asked
 * for, so a coordinator killed then (SIGKILL: no handler runs, nothing is closed) must account that
 * round when it is started again. private-rounds.test.ts checks the mark it keeps for this; here the
 * real process is killed and restarted with the same command, as an operator would.
 */
describe('a coordinator killed with SIGKILL during a private round’s unmask stage', () => {
  it('restarted with the same command, keeps the round as failed, accounts its survivors and ends with that ε spent', async () => {
    const work = mkdtempSync(join(tmpdir(), 'fedtune-unmask-kill-'))
    try {
      await killedWhileUnmasking(work)
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  }, 300_000)
})

async function killedWhileUnmasking(work: string): Promise<void> {
  const { digest } = await readBackboneFolder(backboneDir)
  const json = {
    name: 'unmask-kill',
    backbone: { source: backboneDir, sha256: digest },
    head: { labels: ['a', 'b'] },
    // one round: once the lost round is kept, the restarted coordinator has no round left to run
    training: { rounds: 1 },
    participation: { minParticipants: 3, participantsPerRound: 3, roundDeadlineSeconds: 120 },
    aggregation: { mode: 'secure', stageDeadlineSeconds: 120 },
    privacy: { unit: 'example', epsilon: 8, noiseMultiplier: 1.1 },
  }
  const taskFile = join(work, 'task.json')
  writeFileSync(taskFile, JSON.stringify(json))
  const out = join(work, 'run')
  // The coordinator's database on the run's PostgreSQL server, which the test opens beside it to
  // enrol its participants (as an operator's approval would) and to read what was kept.
  const database = await testDatabase()
  const store = await openStore(database)
  try {
    const args = (port: string) => ['--task', taskFile, '--port', port, '--out', out, '--database', database]
    const first = coordinatorProcess(args('0'))
    const target: Target = {
      url: await first.url,
      sockets: [],
      enrol: (name, kind, key) => enrolIn(store, json.name, name, kind, key),
    }
    // all three send their masked inputs, then hold back their unmasking shares
    const [a, b, c] = ['a', 'b', 'c'].map((name) =>
      testParticipant(target, name, { alter: silentFrom(1, 'unmask') }),
    ) as [TestParticipant, TestParticipant, TestParticipant]
    // The pinning event: a participant asked for its unmask shares. The coordinator keeps its mark
    // (fsynced) before it asks anyone, so from here a restart must account the round.
    const asked = new Promise<void>((resolve) =>
      a.socket.on('secagg', (raw: { stage: string }) => raw.stage === 'unmask' && resolve()),
    )
    await Promise.all([a, b, c].map((p) => p.joined))
    await asked
    first.child.kill('SIGKILL')
    expect(await first.exited).toBe(-1)
    for (const s of target.sockets) s.disconnect()
    expect([a, b, c].flatMap((p) => p.sent).filter((s) => s.stage === 'unmask')).toEqual([])
    expect(existsSync(unmaskingMarkFile(out))).toBe(true)
    const mark = readUnmaskingMark(out)
    expect(mark).toMatchObject({ round: 1, survivors: 3 })
    // nothing of round 1 was kept by the killed coordinator
    expect(await store.rounds.list<RoundRecord>(1)).toEqual([])

    // The same command: the coordinator finds the unfinished run and keeps the lost round; its one
    // round kept, the run ends as soon as it opens, starting none and waiting for nobody.
    const second = coordinatorProcess(args(new URL(target.url).port))
    // a run that aggregated no round: `fedtune coordinator --task` exits 1, as it documents
    expect(await second.exited).toBe(1)
    const printed = second.lines.join('\n')
    expect(printed).toMatch(
      /run 1: round 1 kept as failed: the coordinator stopped during the round's unmask stage \(it did not close: a crash or a kill\); its 3 survivors are accounted/,
    )
    expect(printed).toMatch(/continuing run 1 of task unmask-kill after round 1 \(0 aggregated, 1 failed\)/)
    expect(printed).toMatch(/finished: task unmask-kill: all 1 rounds done; 0 rounds aggregated, 1 failed/)

    // ε as the coordinator's own accountant gives it for one round of three survivors
    const params = statSync(headFile(out, 0)).size / 4
    const task = parseTaskFile(json, work)
    if (task.privacy === null) throw new Error('expected a private task')
    const found = privacySettingsFor({ ...task, privacy: task.privacy }, params)
    if (!found.ok) throw new Error(JSON.stringify(found.problems))
    const epsilon = found.value.budget.epsilonAfter([3])
    expect(epsilon).toBeGreaterThan(0)

    const kept = (await store.rounds.list<RoundRecord>(1)).map((r) => r.record)
    expect(kept).toEqual([
      expect.objectContaining({
        round: 1,
        status: 'failed',
        privacy: expect.objectContaining({ unit: 'example', epsilon, survivors: 3 }),
      }),
    ])
    expect(accountedRounds(kept)).toEqual([3])
    // the run folder's readable copy says the same
    const logged = readFileSync(join(out, 'rounds.jsonl'), 'utf8').trim().split('\n')
    expect(logged.map((l) => JSON.parse(l) as RoundRecord)).toEqual([
      expect.objectContaining({ round: 1, status: 'failed', privacy: expect.objectContaining({ epsilon }) }),
    ])
    expect(await store.runs.get(1)).toMatchObject({ state: 'finished', reason: 'all 1 rounds done' })
  } finally {
    await store.close()
  }
}
