import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { headFile, issueInvite, type RoundRecord } from '@fedtune/coordinator'
import { openStore } from '@fedtune/coordinator/store'
import { readBackboneFolder } from '@fedtune/model/node'
import {
  emptyEvaluationCounts,
  encodeWeights,
  flattenEvaluationCounts,
  PROTOCOL_VERSION,
  packedParser,
  parseChallenge,
  signHello,
  type TaskInfo,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { io as connect } from 'socket.io-client'
import { describe, expect, it } from 'vitest'
import { testStoreFolder } from '../test-store.ts'
import { backboneDir, coordinatorProcess } from './coordinator-process.ts'

/**
 * Issue 12, item 1: a coordinator killed with SIGKILL at any point of a round loses no round it
 * aggregated, and carries on by itself when restarted (no flag): its run store (PGlite in
 * <out>/db) is the source of truth, each round's head is on disk before its row commits, and
 * participants hear a round's result only once it is kept.
 */
/** Where the first coordinator is killed, as the one participant sees the run. */
type KillPoint = 'round 2 open, its update held' | 'round 1 result heard' | 'round 2 update acknowledged'

describe('a coordinator killed with SIGKILL mid-run', () => {
  for (const point of [
    'round 2 open, its update held',
    'round 1 result heard',
    'round 2 update acknowledged',
  ] satisfies KillPoint[])
    it(`at "${point}": restarted with the same command it carries the run on, and every round it announced is kept`, async () => {
      const work = mkdtempSync(join(tmpdir(), 'fedtune-crash-'))
      try {
        await killedAndRestarted(work, point)
      } finally {
        rmSync(work, { recursive: true, force: true })
      }
    }, 300_000)
})

async function killedAndRestarted(work: string, point: KillPoint): Promise<void> {
  const { digest } = await readBackboneFolder(backboneDir)
  const taskFile = join(work, 'task.json')
  writeFileSync(
    taskFile,
    JSON.stringify({
      name: 'crash',
      backbone: { source: backboneDir, sha256: digest },
      head: { labels: ['x', 'y'] },
      training: { rounds: 3 },
      participation: { minParticipants: 1, roundDeadlineSeconds: 60 },
      // A scripted participant sends plain deltas; carrying on does not depend on how they arrive.
      aggregation: { mode: 'plaintext-debug' },
      enrolment: { hospitals: 'invite' },
    }),
  )
  const out = join(work, 'run')
  // The coordinator's database, migrated and empty: a copy of the run's template moved into place
  // (creating a PGlite cluster takes seconds, copying one a fraction of that).
  mkdirSync(out, { recursive: true })
  renameSync(await testStoreFolder(), join(out, 'db'))
  // The operator's invite for h1, issued in the coordinator's database before it starts.
  const setup = await openStore(join(out, 'db'))
  await setup.tasks.submit({ name: 'crash', file: {}, submittedBy: 'test' })
  const { code } = await issueInvite(setup, { task: 'crash', participant: 'h1', createdBy: 'test' })
  await setup.close()

  const args = ['--task', taskFile, '--port', '0', '--out', out]
  const first = coordinatorProcess(args)
  const url = await first.url
  const port = new URL(url).port

  let task: TaskInfo | undefined
  const answered: number[] = []
  const heard: number[] = []
  let killed = false
  let kill: () => void = () => {}
  const killNow = new Promise<void>((resolve) => {
    kill = resolve
  })
  // It connects again once the second coordinator listens, not on a timer: retries against a port
  // with no listener could even connect to themselves (a TCP self-connect) and take the port.
  const socket = connect(url, { transports: ['websocket'], parser: packedParser, reconnection: false })
  socket.on('challenge', (raw: unknown) => {
    const hello = signHello(nodeCrypto, new Uint8Array(32).fill(7), parseChallenge(raw), {
      protocol: PROTOCOL_VERSION,
      participant: 'h1',
      kind: 'hospital',
      agent: 'test',
      invite: code,
    })
    socket.emit('hello', hello, (ack: { task: TaskInfo }) => {
      task = ack.task
    })
  })
  socket.on('round', (r: { round: number }) => {
    if (!task) return
    if (!killed && point === 'round 2 open, its update held' && r.round === 2) return kill()
    const delta = new Float32Array(task.paramCount).fill(r.round)
    const metrics = { trainLoss: 0.1, evaluation: flattenEvaluationCounts(emptyEvaluationCounts(2)) }
    socket.emit(
      'update',
      { round: r.round, delta: encodeWeights(delta), examples: 1, labelCounts: [1, 0], metrics },
      () => {
        answered.push(r.round)
        if (!killed && point === 'round 2 update acknowledged' && r.round === 2) kill()
      },
    )
  })
  socket.on('round-result', (result: { round: number; status: string }) => {
    if (result.status === 'aggregated') heard.push(result.round)
    if (!killed && point === 'round 1 result heard' && result.round === 1) kill()
  })
  let finished = false
  socket.on('finished', () => {
    finished = true
    // as the hospital client does: leave on 'finished', which lets the coordinator exit at once
    socket.disconnect()
  })
  await killNow
  const cut = new Promise((resolve) => socket.once('disconnect', resolve))
  first.child.kill('SIGKILL')
  expect(await first.exited).toBe(-1)
  expect(await cut).toBe('transport close')
  killed = true
  const announcedBeforeKill = [...heard]

  // The same command: the coordinator finds the task's unfinished run in its database and carries it on.
  const second = coordinatorProcess(['--task', taskFile, '--port', port, '--out', out])
  await second.url
  socket.connect()
  expect(await second.exited).toBe(0)
  expect(finished).toBe(true)
  expect(second.lines.join('\n')).toMatch(/continuing run 1 of task crash after round [12] /)

  const store = await openStore(join(out, 'db'))
  try {
    const rounds = await store.rounds.list<RoundRecord>(1)
    expect(rounds.map((r) => r.round)).toEqual([1, 2, 3])
    // every round announced before the kill is kept, as it was announced
    for (const round of announcedBeforeKill)
      expect(rounds.find((r) => r.round === round)?.status).toBe('aggregated')
    expect((await store.runs.get(1))?.state).toBe('finished')
    expect((await store.runs.list()).length).toBe(1)
    const actions = (await store.audit.list({ task: 'crash', limit: 100, newestFirst: false })).map(
      (e) => e.action,
    )
    expect(actions.filter((a) => a === 'run.started')).toHaveLength(2)
    expect(actions.at(-1)).toBe('run.finished')
  } finally {
    await store.close()
  }
  // Each aggregated round adds Δ = round to the head: 1 + 2 + 3 from the initial one.
  const initial = new Float32Array(readFileSync(headFile(out, 0)).buffer.slice(0))
  const final = new Float32Array(readFileSync(headFile(out, 3)).buffer.slice(0))
  expect(final[0]).toBeCloseTo((initial[0] as number) + 6, 5)
  expect(heard).toContain(3)
}
