import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { RoundRecord } from '@fedtune/coordinator'
import { type RunningHost, startHost } from '@fedtune/coordinator/start'
import { initBackend, readBackboneFolder } from '@fedtune/model/node'
import type { Socket } from 'socket.io-client'
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import type { CommandIo } from '../../cli/src/command-io.ts'
import { runModelCommand } from '../../cli/src/model-command.ts'
import { runRunCommand } from '../../cli/src/run-command.ts'
import { localTime } from '../../cli/src/run-views.ts'
import { runRunsCommand } from '../../cli/src/runs-command.ts'
import { liveText, runStatusCommand } from '../../cli/src/status-command.ts'
import { runTaskCommand } from '../../cli/src/task-command.ts'
import { silentFrom, type Target, testDatabase, testParticipant } from '../harness.ts'
import { bearerFor } from '../test-store.ts'
import { fedtuneProcess } from './fedtune-process.ts'

/**
 * Issue 12, item 6 ("scriptable") and `fedtune run export` of item 1: the operators' commands for
 * tasks and runs against a real coordinator (startHost: a real store, the real backbone, HTTP on
 * port 0), each command run in-process with its streams in memory, `fedtune start` as a process.
 */

const repo = fileURLToPath(new URL('../../', import.meta.url))
const backboneDir = join(repo, '..', 'shared', 'backbones', 'mobilenet_v2_0.35_224')
const _bin = join(repo, 'cli', 'bin', 'fedtune.js')
let digest: string

beforeAll(async () => {
  await initBackend()
  digest = (await readBackboneFolder(backboneDir)).digest
})

/** A coordinator serving no task yet, with an operator's and a viewer's API token; closed with the test. */
async function coordinator() {
  const work = mkdtempSync(join(tmpdir(), 'fedtune-runs-'))
  const lines: string[] = []
  const running = await startHost({
    port: 0,
    database: await testDatabase(),
    dataDir: join(work, 'data'),
    cacheDir: join(work, 'cache'),
    quiet: true,
    print: (line) => lines.push(line),
  })
  const sockets: Socket[] = []
  onTestFinished(async () => {
    for (const s of sockets) s.disconnect()
    await running.close()
    rmSync(work, { recursive: true, force: true })
  })
  const token = async (role: 'operator' | 'viewer', name: string) =>
    (await bearerFor(running.store, role, name)).authorization.slice('Bearer '.length)
  const operator = await token('operator', 'olivia')
  const viewer = await token('viewer', 'victor')
  /** Runs `command` as `token`'s holder would from a shell with FEDTUNE_COORDINATOR and FEDTUNE_TOKEN set. */
  const cli = async (
    command: (argv: string[], io: CommandIo) => Promise<number>,
    argv: string[],
    as = operator,
  ) => {
    const out: string[] = []
    const err: string[] = []
    const io: CommandIo = {
      stdout: (t) => void out.push(t),
      stderr: (t) => void err.push(t),
      stdin: process.stdin,
      env: { FEDTUNE_COORDINATOR: running.url, FEDTUNE_TOKEN: as },
    }
    const code = await command(argv, io)
    return { code, stdout: out.join(''), stderr: err.join('') }
  }
  /** A task file on disk, in plaintext-debug so the test's participants' updates are plain zeros. */
  const taskFile = (name: string, extra: Record<string, unknown> = {}) => {
    const path = join(work, `${name}-${Math.random().toString(36).slice(2)}.json`)
    writeFileSync(
      path,
      JSON.stringify({
        name,
        backbone: { source: backboneDir, sha256: digest },
        head: { labels: ['a', 'b'] },
        training: { rounds: 2 },
        participation: { minParticipants: 2, participantsPerRound: 2, gatherSeconds: 0 },
        aggregation: { mode: 'plaintext-debug' },
        ...extra,
      }),
    )
    return path
  }
  /** Where the test's participants connect; they are enrolled as an operator's approval would. */
  const target = (task: string): Target => ({
    url: running.url,
    sockets,
    enrol: async (name, kind, identityKey) => {
      await running.store.participants.enrolOpen({ task, name, kind, identityKey })
    },
  })
  return { running, work, lines, operator, viewer, cli, taskFile, target }
}

function fedtune(env: NodeJS.ProcessEnv, ...args: string[]) {
  return fedtuneProcess(args, { env })
}

/** Resolves once `task`'s run serves participants. */
const serving = (running: RunningHost, task: string) => running.host.ready(task)

describe('fedtune task submit', () => {
  it('creates a task, then finds the same file unchanged, and lists every problem of a refused file', async () => {
    const c = await coordinator()
    const path = c.taskFile('control')
    expect(await c.cli(runTaskCommand, ['submit', path])).toEqual({
      code: 0,
      stdout: 'created task control; start a run: fedtune start --task control\n',
      stderr: '',
    })
    expect(await c.cli(runTaskCommand, ['submit', path])).toEqual({
      code: 0,
      stdout: 'task control is unchanged: the coordinator has this file already\n',
      stderr: '',
    })
    const json = await c.cli(runTaskCommand, [
      'submit',
      '--json',
      c.taskFile('control', { description: 'now described' }),
    ])
    expect(JSON.parse(json.stdout)).toEqual({ task: 'control', outcome: 'replaced' })

    const bad = c.taskFile('broken', { training: { rounds: 0 }, colour: 'red' })
    const refused = await c.cli(runTaskCommand, ['submit', bad])
    expect(refused.code).toBe(1)
    expect(refused.stdout).toBe('')
    expect(refused.stderr).toBe(
      `fedtune task: the coordinator refused the task file ${bad} (2 problems):\n` +
        '  training.rounds: expected an integer from 1 to 100000, got number 0\n' +
        '  expected only known fields ($schema, name, description, backbone, head, training, participation, evaluation, enrolment, aggregation, privacy), got unknown field "colour"\n',
    )
    // a viewer may read tasks, not submit them
    const viewer = await c.cli(runTaskCommand, ['submit', path], c.viewer)
    expect(viewer.code).toBe(1)
    expect(viewer.stderr).toMatch(
      /answered 403 forbidden: POST \/api\/tasks needs the operator role or admin; "victor" is a viewer\n$/,
    )
  })
})

describe('fedtune start, pause, resume, stop, abort and extend', () => {
  it('start opens a run that status shows; pause and resume show in status; stop ends it, and runs says so', async () => {
    const c = await coordinator()
    await c.cli(runTaskCommand, ['submit', c.taskFile('control')])
    const idle = await c.cli(runStatusCommand, ['--task', 'control'])
    expect(idle.stdout).toBe('task control: idle, no run yet (start one: fedtune start --task control)\n')

    // as its own command, from a shell
    const started = await fedtune(
      { FEDTUNE_COORDINATOR: c.running.url, FEDTUNE_TOKEN: c.operator },
      'start',
      '--task',
      'control',
    )
    expect(started).toMatchObject({ code: 0, stderr: '' })
    expect(started.stdout).toBe(
      'run 1 of task control: preparing; it prepares, then opens to participants (fedtune status --task control)\n',
    )
    await serving(c.running, 'control')

    const table = await c.cli(runStatusCommand, [])
    expect(table.stdout.split('\n')).toEqual([
      expect.stringMatching(/^task +phase +run +state +detail$/),
      expect.stringMatching(/^control +serving +1 +running$/),
      '',
    ])
    const live = await c.cli(runStatusCommand, ['--task', 'control'])
    expect(live.stdout).toBe(
      'task control: run 1 running, waiting to start round 1 of 2 (plaintext-debug aggregation)\n' +
        'online 0\n' +
        'rounds kept: 0 aggregated, 0 failed\n' +
        'privacy: none (this task gives no differential-privacy guarantee)\n',
    )

    expect((await c.cli(runRunCommand, ['pause', '--task', 'control'])).stdout).toBe(
      'run 1 of task control: paused (paused by olivia)\n',
    )
    const paused = await c.cli(runStatusCommand, ['--task', 'control'])
    expect(paused.stdout).toContain('\npaused: no round starts until an operator resumes\n')
    const json = await c.cli(runStatusCommand, ['--task', 'control', '--json'])
    expect(JSON.parse(json.stdout)).toMatchObject({
      task: 'control',
      phase: 'waiting',
      paused: true,
      round: 0,
      rounds: 2,
    })

    expect((await c.cli(runRunCommand, ['resume', '--task', 'control'])).stdout).toBe(
      'run 1 of task control: running\n',
    )
    expect((await c.cli(runStatusCommand, ['--task', 'control'])).stdout).not.toContain('paused')

    // what an operator wrote reaches the terminal escaped, never as a control sequence
    const stop = await c.cli(runRunCommand, ['stop', '--task', 'control', '--reason', 'enough\u001b[2J'])
    expect(stop.stdout).toBe('run 1 of task control: stopped (stopped by olivia: enough\\x1b[2J)\n')
    const runs = await c.cli(runRunsCommand, [])
    expect(runs.stdout.split('\n')).toEqual([
      expect.stringMatching(/^run +task +state +created +started +ended +reason$/),
      expect.stringMatching(/^1 +control +stopped +\S+Z +\S+Z +\S+Z +stopped by olivia: enough\\x1b\[2J$/),
      '',
    ])
    expect(JSON.parse((await c.cli(runRunsCommand, ['--task', 'control', '--json'])).stdout)).toMatchObject({
      runs: [{ id: 1, task: 'control', state: 'stopped', reason: 'stopped by olivia: enough\u001b[2J' }],
    })
    const tasks = await c.cli(runStatusCommand, [])
    expect(tasks.stdout).toMatch(/\ncontrol +ended +1 +stopped +stopped by olivia: enough\\x1b\[2J\n/)
    expect((await c.cli(runStatusCommand, ['--task', 'control'])).stdout).toBe(
      'task control: ended, run 1 stopped (stopped by olivia: enough\\x1b[2J)\n',
    )
    const shown = await c.cli(runTaskCommand, ['show', 'control'], c.viewer)
    expect(shown.stdout.split('\n')).toEqual([
      expect.stringMatching(/^task control: submitted by olivia at \S+Z, ended$/),
      expect.stringMatching(/^run +task +state +created +started +ended +reason$/),
      expect.stringMatching(/^1 +control +stopped +.*enough\\x1b\[2J$/),
      '',
    ])
    for (const out of [stop, runs, tasks, shown]) expect(out.stdout).not.toContain('\u001b')
  })

  it('abort and extend with no round running print the coordinator’s refusal (409), a viewer’s pause its 403, each exit 1', async () => {
    const c = await coordinator()
    await c.cli(runTaskCommand, ['submit', c.taskFile('control')])
    await c.cli(runRunCommand, ['start', '--task', 'control'])
    await serving(c.running, 'control')
    const base = `${c.running.url}/api/tasks/control`

    const abort = await c.cli(runRunCommand, ['abort', '--task', 'control', '--reason', 'bad data'])
    expect(abort.code).toBe(1)
    expect(abort.stderr).toMatch(
      new RegExp(`^fedtune run: POST ${base}/abort answered 409 wrong-state: .*no round.*\\n$`),
    )
    const extend = await c.cli(runRunCommand, ['extend', '--task', 'control', '--seconds', '60'])
    expect(extend.code).toBe(1)
    expect(extend.stderr).toMatch(
      new RegExp(`^fedtune run: POST ${base}/extend answered 409 wrong-state: .*no round.*\\n$`),
    )

    const viewer = await c.cli(runRunCommand, ['pause', '--task', 'control'], c.viewer)
    expect(viewer).toEqual({
      code: 1,
      stdout: '',
      stderr: `fedtune run: POST ${base}/pause answered 403 forbidden: POST /api/tasks/:task/pause needs the operator role or admin; "victor" is a viewer\n`,
    })
    // the run is as it was
    expect((await c.cli(runStatusCommand, ['--task', 'control'])).stdout).toMatch(
      /^task control: run 1 running,/,
    )

    // what the command line gets wrong is a usage error (exit 2), before any request
    const noSeconds = await c.cli(runRunCommand, ['extend', '--task', 'control'])
    expect(noSeconds.code).toBe(2)
    expect(noSeconds.stderr).toMatch(
      /^fedtune run: --seconds: expected a whole number from 1 to 604800, got ""\n\nUsage:/,
    )
    const noTask = await c.cli(runRunCommand, ['pause'])
    expect(noTask.code).toBe(2)
    expect(noTask.stderr).toMatch(/^fedtune run: --task is required\n/)
    const unknown = await c.cli(runStatusCommand, ['--task', 'nope'])
    expect(unknown).toMatchObject({
      code: 1,
      stderr: 'fedtune status: expected a task this coordinator hosts (control), got "nope"\n',
    })
  })
})

describe('fedtune status of a secure round', () => {
  it('names the stage and whom it waits for', async () => {
    const c = await coordinator()
    const secure = {
      participation: { minParticipants: 3, participantsPerRound: 3, gatherSeconds: 0 },
      aggregation: { mode: 'secure' },
    }
    await c.cli(runTaskCommand, ['submit', c.taskFile('secure', secure)])
    await c.cli(runRunCommand, ['start', '--task', 'secure'])
    await serving(c.running, 'secure')
    const [a, b] = ['hospital-a', 'hospital-b'].map((name) => testParticipant(c.target('secure'), name))
    // hospital-c keeps the masked-input stage waiting: it sends nothing from there on
    testParticipant(c.target('secure'), 'hospital-c', { alter: silentFrom(1, 'masked-input') })
    await Promise.all([a?.acked(1, 'masked-input'), b?.acked(1, 'masked-input')])
    const status = await c.cli(runStatusCommand, ['--task', 'secure'])
    const { deadlineAt } = JSON.parse((await c.cli(runStatusCommand, ['--task', 'secure', '--json'])).stdout)
    expect(status.stdout).toBe(
      'task secure: run 1 running, round 1 of 2 in progress (secure aggregation)\n' +
        'online 3: hospital-a, hospital-b, hospital-c\n' +
        'selected 3: hospital-a, hospital-b, hospital-c\n' +
        'secure stage masked-input, waiting for 1: hospital-c\n' +
        `deadline ${localTime(deadlineAt)}\n` +
        'rounds kept: 0 aggregated, 0 failed\n' +
        'privacy: none (this task gives no differential-privacy guarantee)\n',
    )
  })
})

describe('a round in progress, and fedtune run export', () => {
  it('status shows the round live; extend moves its deadline, abort fails it; export writes the run as the coordinator keeps a run folder', async () => {
    const c = await coordinator()
    await c.cli(runTaskCommand, ['submit', c.taskFile('exported')])
    await c.cli(runRunCommand, ['start', '--task', 'exported'])
    const live = await serving(c.running, 'exported')
    const finished = c.running.host.whenIdle()
    const a = testParticipant(c.target('exported'), 'hospital-a')
    // hospital-b keeps round 1 waiting: it sends nothing in it
    testParticipant(c.target('exported'), 'hospital-b', { alter: silentFrom(1, 'update') })
    await a.acked(1, 'update')

    const status = await c.cli(runStatusCommand, ['--task', 'exported'])
    const { deadlineAt } = JSON.parse(
      (await c.cli(runStatusCommand, ['--task', 'exported', '--json'])).stdout,
    )
    expect(status.stdout).toBe(
      'task exported: run 1 running, round 1 of 2 in progress (plaintext-debug aggregation)\n' +
        'online 2: hospital-a, hospital-b\n' +
        'selected 2: hospital-a, hospital-b\n' +
        'received 1: hospital-a\n' +
        `deadline ${localTime(deadlineAt)}\n` +
        'rounds kept: 0 aggregated, 0 failed\n' +
        'privacy: none (this task gives no differential-privacy guarantee)\n',
    )
    expect(localTime(deadlineAt)).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d$/)

    expect((await c.cli(runRunCommand, ['extend', '--task', 'exported', '--seconds', '90'])).stdout).toBe(
      'run 1 of task exported: running; the round in progress has 90 s more\n',
    )
    const later = JSON.parse((await c.cli(runStatusCommand, ['--task', 'exported', '--json'])).stdout)
    expect(later.deadlineAt - deadlineAt).toBeGreaterThanOrEqual(90_000)
    expect(
      (await c.cli(runRunCommand, ['abort', '--task', 'exported', '--reason', 'hospital-b is stuck'])).stdout,
    ).toBe(
      'run 1 of task exported: running; the round in progress is aborted, the next one starts as usual\n',
    )
    // round 2 aggregates with both, and the run finishes
    await live.federation.done
    await finished

    const out = join(c.work, 'export')
    const exported = await c.cli(runRunCommand, ['export', '--task', 'exported', '--out', out])
    expect(exported).toEqual({
      code: 0,
      stdout: `exported run 1 of task exported (finished): 2 rounds, 2 heads to ${out}\n`,
      stderr: 'heads 1/2 (50%)\nheads 2/2 (100%)\n',
    })

    const headers = { authorization: `Bearer ${c.viewer}` }
    const api = (await (await fetch(`${c.running.url}/api/runs/1/rounds`, { headers })).json()) as {
      rounds: (RoundRecord & { committedAt: string; head: boolean })[]
    }
    const kept = readFileSync(join(out, 'rounds.jsonl'), 'utf8').split('\n')
    expect(kept.pop()).toBe('')
    expect(kept.map((line) => JSON.parse(line))).toEqual(
      api.rounds.map(({ committedAt: _at, head: _head, ...record }) => record),
    )
    expect(kept.map((line) => JSON.parse(line))).toMatchObject([
      { round: 1, status: 'failed', reason: expect.stringContaining('hospital-b is stuck') },
      { round: 2, status: 'aggregated' },
    ])

    // the failed round has no head; the initial one and the aggregated one's are the served ones, paramCount float32s
    expect(readdirSync(join(out, 'heads'))).toEqual(['round-0000.f32', 'round-0002.f32'])
    const file = readFileSync(join(out, 'heads', 'round-0002.f32'))
    expect(file.byteLength).toBe(live.info.paramCount * 4)
    const served = await fetch(`${c.running.url}/api/runs/1/rounds/2/head`, { headers })
    expect(Buffer.from(await served.arrayBuffer()).equals(file)).toBe(true)
    // round 1 was aborted: its head, and the model after it, say so (issue 13, item 2)
    for (const path of ['/api/runs/1/rounds/1/head', '/api/runs/1/model?round=1']) {
      const refused = await fetch(`${c.running.url}${path}`, { headers })
      expect(refused.status, path).toBe(409)
      expect(((await refused.json()) as { message: string }).message, path).toMatch(
        /^round 1 failed: .*hospital-b is stuck.*; no head was produced$/,
      )
    }
    const model = await c.cli(
      runModelCommand,
      ['export', '--run', '1', '--round', '1', '--out', join(c.work, 'model')],
      c.viewer,
    )
    expect(model.code).toBe(1)
    expect(model.stderr).toMatch(
      /^fedtune model: GET .*\/api\/runs\/1\/model\?round=1 answered 409 no-head: round 1 failed: .*; no head was produced\n$/,
    )
    // the last aggregated round's model downloads, for a viewer
    expect(
      await c.cli(runModelCommand, ['export', '--run', '1', '--out', join(c.work, 'model')], c.viewer),
    ).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('wrote the model of run 1 (task exported) after round 2'),
    })
    expect(readdirSync(join(c.work, 'model')).sort()).toEqual([
      'README.md',
      'model-card.json',
      'model.json',
      'weights.bin',
    ])
    expect(readFileSync(join(out, 'rounds.svg'), 'utf8')).toMatch(
      /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[\s\S]*task exported: the global head per round[\s\S]*<\/svg>\n$/,
    )
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'))).toMatchObject({
      id: 1,
      task: 'exported',
      state: 'finished',
      settings: { name: 'exported', training: { rounds: 2 }, aggregation: { mode: 'plaintext-debug' } },
    })

    // the same as the coordinator's own folder of the run (the records' keys are in the store's
    // order, their values the same)
    const own = join(c.work, 'data', 'runs', 'exported-1')
    const lines = (dir: string) =>
      readFileSync(join(dir, 'rounds.jsonl'), 'utf8')
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line))
    expect(lines(out)).toEqual(lines(own))
    expect(readFileSync(join(own, 'heads', 'round-0002.f32')).equals(file)).toBe(true)
    expect(readdirSync(join(own, 'heads'))).toEqual(['round-0000.f32', 'round-0002.f32'])
    expect(
      readFileSync(join(own, 'heads', 'round-0000.f32')).equals(
        readFileSync(join(out, 'heads', 'round-0000.f32')),
      ),
    ).toBe(true)
    // a FedAvg run keeps no optimizer state: none served, none written
    const state = await fetch(`${c.running.url}/api/runs/1/rounds/2/server-state`, { headers })
    expect(state.status).toBe(404)
    expect(((await state.json()) as { message: string }).message).toMatch(
      /none kept \(the run's server optimizer keeps no state\)/,
    )

    // a folder holding files is refused unless --force, which replaces the run files and keeps the rest
    writeFileSync(join(out, 'notes.txt'), 'mine')
    const again = await c.cli(runRunCommand, ['export', '--run', '1', '--out', out], c.viewer)
    expect(again.code).toBe(1)
    expect(again.stderr).toBe(
      `fedtune run: expected an empty or new folder, got ${out} holding 5 entries; pass --force to replace the run files in it (rounds.jsonl, rounds.svg, run.json, heads/round-*.f32)\n`,
    )
    const forced = await c.cli(runRunCommand, ['export', '--run', '1', '--out', out, '--force'], c.viewer)
    expect(forced.code).toBe(0)
    expect(readFileSync(join(out, 'rounds.jsonl'), 'utf8').split('\n')).toHaveLength(3)
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('mine')

    // a run that is not there removes nothing, --force or not
    const missing = await c.cli(runRunCommand, ['export', '--run', '7', '--out', out, '--force'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe(
      `fedtune run: GET ${c.running.url}/api/runs/7 answered 404 not-found: expected a run of this coordinator, got 7\n`,
    )
    expect(readdirSync(out).sort()).toEqual(['heads', 'notes.txt', 'rounds.jsonl', 'rounds.svg', 'run.json'])
  })
})

describe('fedtune status of a private task', () => {
  it('says the ε the run has spent of its target', () => {
    const listing = {
      name: 'private',
      phase: 'serving',
      run: { id: 3, state: 'running', reason: null },
      preparing: null,
    } as const
    const status = {
      task: 'private',
      phase: 'waiting',
      paused: false,
      round: 4,
      deadlineAt: null,
      rounds: 20,
      online: [],
      browsers: [],
      selected: [],
      received: [],
      aggregation: 'secure',
      secure: null,
      completed: 4,
      failed: 0,
      privacy: { unit: 'example', epsilon: 1.234, delta: 1e-5, target: 3, rounds: 4 },
    } as const
    expect(liveText(listing, status).split('\n').at(-2)).toBe(
      'privacy: ε 1.23 of 3.00 spent (δ = 1e-5, per example) over 4 rounds accounted',
    )
    // a coordinator from before privacy says nothing of it
    const { privacy: _, ...older } = status
    expect(liveText(listing, older)).not.toContain('privacy')
  })
})
