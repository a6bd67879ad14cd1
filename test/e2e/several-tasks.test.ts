import { mkdtempSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectRefusal, packedParser } from '@fedtune/protocol'
import { io as connect } from 'socket.io-client'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  type MainCoordinator,
  realTaskJson,
  startMainCoordinator,
  type Target,
  taskTarget,
  testParticipant,
} from '../harness.ts'
import { bearerFor, testStoreFolder } from '../test-store.ts'

/**
 * Issue 12, item 2: one coordinator hosts several tasks at once. Operators submit task files and
 * start, pause, resume, stop and abort runs over the API; participants name the task they join; the
 * port is open while a run still prepares, and a connection to it hears that it is not ready.
 */

// biome-ignore lint/suspicious/noExplicitAny: the API's JSON, which each test checks with toMatchObject
type Api = (method: string, path: string, body?: unknown) => Promise<{ status: number; json: any }>

/** The coordinator's API with the headers of `who`. */
function apiOf(c: MainCoordinator, who: { authorization: string }): Api {
  return async (method, path, body) => {
    const response = await fetch(`${c.url}${path}`, {
      method,
      headers: { ...who, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await response.text()
    return { status: response.status, json: text === '' ? null : JSON.parse(text) }
  }
}

/** What a connection naming `task` (or none) hears before any challenge: its refusal, or 'connected'. */
function connectionTo(c: MainCoordinator, task: string | undefined): Promise<unknown> {
  const socket = connect(c.url, {
    transports: ['websocket'],
    reconnection: false,
    parser: packedParser,
    ...(task === undefined ? {} : { auth: { task } }),
  })
  c.sockets.push(socket)
  return new Promise((resolve) => {
    socket.once('connect', () => resolve('connected'))
    socket.once('connect_error', (error) => resolve(connectRefusal(error) ?? error.message))
  })
}

const PLAINTEXT = { mode: 'plaintext-debug' }

describe('one coordinator, several tasks', () => {
  it('an operator submits a second task (with a larger head) and starts it; each participant names its task, and both runs complete apart', async () => {
    const c = await startMainCoordinator({ participation: { minParticipants: 2, gatherSeconds: 0 } })
    const operator = apiOf(c, await bearerFor(c.store, 'operator'))
    // a hidden layer: an update of 82,114 parameters (328 KB), where main's are 2,562 (10 KB); the
    // sockets, attached before this task was known, take messages as large as its head needs
    const second = await realTaskJson('second', {
      head: { labels: ['a', 'b'], layers: [{ type: 'dense', units: 64, activation: 'relu' }] },
      aggregation: PLAINTEXT,
      training: { rounds: 2 },
      participation: { minParticipants: 2, gatherSeconds: 0 },
    })
    expect(await operator('POST', '/api/tasks', second)).toMatchObject({
      status: 201,
      json: { task: 'second', outcome: 'created' },
    })
    expect((await operator('POST', '/api/tasks', second)).json).toMatchObject({ outcome: 'unchanged' })
    const started = await operator('POST', '/api/tasks/second/start')
    expect(started).toMatchObject({ status: 202, json: { task: 'second', state: 'preparing' } })
    await c.host.ready('second')
    expect((await operator('GET', '/api/tasks')).json.tasks).toMatchObject([
      { name: 'main', phase: 'serving' },
      { name: 'second', phase: 'serving', run: { id: started.json.id, state: 'running' } },
    ])

    // two runs open: a connection must say which task it joins
    expect(await connectionTo(c, undefined)).toMatchObject({
      code: 'unknown-task',
      reason: expect.stringContaining('open: "main", "second"'),
    })
    expect(await connectionTo(c, 'third')).toMatchObject({
      code: 'unknown-task',
      reason: 'expected a task this coordinator hosts, got "third"; open: "main", "second"',
    })

    const inSecond = ['h1', 'h2'].map((name) => testParticipant(taskTarget(c, 'second'), name))
    const inMain = ['a', 'b'].map((name) => testParticipant(taskTarget(c, 'main'), name))
    for (const p of [...inSecond, ...inMain]) expect((await p.joined).ok).toBe(true)
    expect(await inSecond[0]?.joined).toMatchObject({
      ok: true,
      task: { name: 'second', paramCount: 82_114 },
    })

    const secondRun = c.host.open('second', true)
    const [mainDone, secondDone] = await Promise.all([c.federation.done, secondRun.federation.done])
    expect(mainDone).toMatchObject({ completed: 1 })
    expect(secondDone).toMatchObject({ completed: 2 })
    expect(secondRun.log.records.map((r) => [r.round, r.status, [...r.selected].sort()])).toEqual([
      [1, 'aggregated', ['h1', 'h2']],
      [2, 'aggregated', ['h1', 'h2']],
    ])
    expect(c.records.map((r) => [...r.selected].sort())).toEqual([['a', 'b']])
    // each task's participants are its own
    expect((await c.store.participants.byTask('second')).map((p) => p.name).sort()).toEqual(['h1', 'h2'])
    const runs = (await operator('GET', '/api/runs')).json.runs
    expect(runs.map((r: { task: string; state: string }) => [r.task, r.state])).toEqual([
      ['main', 'finished'],
      ['second', 'finished'],
    ])
    // a run that is over refuses new connections, saying so
    expect(await connectionTo(c, 'second')).toMatchObject({ code: 'task-finished' })
  })

  it('a submitted task file with errors is refused with every error listed, and a task with an unfinished run keeps its file', async () => {
    const c = await startMainCoordinator({ participation: { minParticipants: 3, gatherSeconds: 0 } })
    const operator = apiOf(c, await bearerFor(c.store, 'operator'))
    const bad = await operator('POST', '/api/tasks', {
      name: 'broken',
      backbone: { source: '' },
      head: { labels: ['only'] },
    })
    expect(bad.status).toBe(400)
    expect(bad.json.error).toBe('invalid-task')
    expect(bad.json.problems.length).toBeGreaterThanOrEqual(2)
    expect(bad.json.problems.map((p: { path: string }) => p.path)).toEqual(
      expect.arrayContaining(['backbone.source', 'head.labels']),
    )
    // a budget no noise can keep (ε 0.01 over 10,000 rounds) is refused as it is submitted, with the numbers
    const impossible = await operator(
      'POST',
      '/api/tasks',
      await realTaskJson('impossible', {
        training: { rounds: 10_000 },
        privacy: { unit: 'example', epsilon: 0.01 },
      }),
    )
    expect(impossible).toMatchObject({ status: 400, json: { error: 'invalid-task' } })
    expect(impossible.json.problems).toEqual([
      {
        path: 'privacy.epsilon',
        expected: expect.stringMatching(
          /^an ε that 10000 rounds of 1 DP-SGD steps at q = 1 can meet with a noise multiplier up to 1000 \(even that spends ε = 0\.\d\d at δ = 0\.00001\)/,
        ),
        found: 'number 0.01',
      },
    ])
    expect(await c.store.tasks.get('impossible')).toBeNull()
    // of unit "participant", a z with which one round spends more than ε whatever the head's size
    const tooLittle = await operator(
      'POST',
      '/api/tasks',
      await realTaskJson('too-little', {
        training: { rounds: 10 },
        participation: { minParticipants: 3 },
        privacy: { unit: 'participant', epsilon: 1, noiseMultiplier: 0.5 },
      }),
    )
    expect(tooLittle).toMatchObject({ status: 400, json: { error: 'invalid-task' } })
    expect(tooLittle.json.problems).toEqual([
      {
        path: 'privacy.noiseMultiplier',
        expected: expect.stringMatching(
          /^a noise multiplier with which at least one round fits ε = 1 \(one round at z = 0\.5 spends at least ε = /,
        ),
        found: 'number 0.5',
      },
    ])
    expect(await c.store.tasks.get('too-little')).toBeNull()
    // main's run is unfinished: its file stays until it is stopped
    const changed = await realTaskJson('main', { training: { rounds: 5 } })
    expect(await operator('POST', '/api/tasks', changed)).toMatchObject({
      status: 409,
      json: { error: 'wrong-state', message: expect.stringContaining('has an unfinished run') },
    })
    const audit = await c.store.audit.list({ action: 'task.submit' })
    expect(audit.map((e) => e.outcome)).toEqual(['refused', 'refused', 'refused', 'refused'])
  })

  it('operators pause after the current round, resume, abort, extend and stop a run; a viewer may not; each step audited', async () => {
    const c = await startMainCoordinator({
      aggregation: PLAINTEXT,
      training: { rounds: 3 },
      participation: { minParticipants: 2, gatherSeconds: 0, roundDeadlineSeconds: 600 },
    })
    const operator = apiOf(c, await bearerFor(c.store, 'operator', 'olga'))
    const viewer = apiOf(c, await bearerFor(c.store, 'viewer', 'vera'))
    expect(await viewer('POST', '/api/tasks/main/pause')).toMatchObject({ status: 403 })
    expect(await operator('POST', '/api/tasks/main/abort', { reason: 'test' })).toMatchObject({
      status: 409,
      json: { error: 'wrong-state', message: expect.stringMatching(/expected a round running/) },
    })
    expect(await operator('POST', '/api/tasks/main/extend', { seconds: -1 })).toMatchObject({ status: 400 })
    expect(await operator('POST', '/api/tasks/main/pause')).toMatchObject({
      status: 200,
      json: { state: 'paused' },
    })
    expect((await operator('GET', '/api/status?task=main')).json).toMatchObject({ paused: true, round: 0 })

    // paused: two participants join and no round starts
    const a = testParticipant(c, 'a')
    // b never sends its update: round 1 stays open (its deadline is 600 s) while it is extended and stopped
    const b = testParticipant(c, 'b', { alter: () => undefined })
    expect((await a.joined).ok && (await b.joined).ok).toBe(true)
    expect(c.federation.state).toMatchObject({ phase: 'waiting', round: 0, paused: true })

    const resumed = await operator('POST', '/api/tasks/main/resume')
    expect(resumed).toMatchObject({ status: 200, json: { state: 'running' } })
    expect(c.federation.state).toMatchObject({ phase: 'training', round: 1 })
    const deadline = c.federation.state.deadlineAt as number
    expect(await operator('POST', '/api/tasks/main/extend', { seconds: 30 })).toMatchObject({ status: 200 })
    // 30 s later (the deadline is re-armed on the real clock, a few milliseconds after it was read)
    expect(c.federation.state.deadlineAt).toBeGreaterThanOrEqual(deadline + 30_000)
    expect(c.federation.state.deadlineAt).toBeLessThan(deadline + 31_000)

    expect(await operator('POST', '/api/tasks/main/stop', { reason: 'enough' })).toMatchObject({
      status: 200,
      json: { state: 'stopped', reason: 'stopped by olga: enough' },
    })
    expect(await connectionTo(c, 'main')).toMatchObject({ code: 'task-finished' })
    const steps = (await c.store.audit.list({ task: 'main' }))
      .filter((e) => e.action.startsWith('run.') && e.actor !== 'system')
      .map((e) => [e.actor, e.action, e.outcome])
    expect(steps).toEqual([
      ['olga', 'run.abort', 'refused'],
      ['olga', 'run.pause', 'ok'],
      ['olga', 'run.resume', 'ok'],
      ['olga', 'run.extend', 'ok'],
      ['olga', 'run.stop', 'ok'],
    ])
    // the viewer's attempt, refused before any route ran
    expect((await c.store.audit.list({ actor: 'vera' })).map((e) => [e.action, e.outcome])).toEqual([
      ['access.refused', 'refused'],
    ])
  })

  it('the port is open while a run prepares: a connection hears task-not-ready, operators see it preparing, and it opens when ready', async () => {
    // The second task's backbone comes from a URL this test holds until it lets it go.
    const c = await startMainCoordinator({ participation: { minParticipants: 3, gatherSeconds: 0 } })
    const folder = JSON.parse(JSON.stringify(await realTaskJson('x'))).backbone.source as string
    let release!: () => void
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const server: Server = createServer(async (request, response) => {
      await held
      try {
        response.end(await readFile(join(folder, (request.url ?? '/').slice(1))))
      } catch {
        response.statusCode = 404
        response.end()
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const port = (server.address() as AddressInfo).port
    const operator = apiOf(c, await bearerFor(c.store, 'operator'))
    const file = await realTaskJson('remote', { aggregation: PLAINTEXT })
    ;(file.backbone as { source: string }).source = `http://127.0.0.1:${port}/model.json`
    expect((await operator('POST', '/api/tasks', file)).status).toBe(201)
    expect((await operator('POST', '/api/tasks/remote/start')).status).toBe(202)

    expect((await operator('GET', '/api/tasks')).json.tasks).toContainEqual(
      expect.objectContaining({ name: 'remote', phase: 'preparing' }),
    )
    expect(await connectionTo(c, 'remote')).toMatchObject({
      code: 'task-not-ready',
      reason: expect.stringMatching(/^task "remote" is preparing run \d+/),
    })
    expect(await operator('GET', '/api/task?task=remote')).toMatchObject({ status: 503 })
    // the other task serves meanwhile
    expect(await connectionTo(c, 'main')).toBe('connected')

    release()
    await c.host.ready('remote')
    expect(await connectionTo(c, 'remote')).toBe('connected')
    expect((await operator('GET', '/api/task?task=remote')).json).toMatchObject({ name: 'remote' })
  })

  it('a coordinator closed with two runs under way carries both on when it starts again, losing no round', async () => {
    const { startHost } = await import('@fedtune/coordinator/start')
    const { parseTaskFile } = await import('@fedtune/coordinator')
    const work = mkdtempSync(join(tmpdir(), 'fedtune-two-runs-'))
    onTestFinished(() => rmSync(work, { recursive: true, force: true }))
    // Both coordinators keep the runs in one PGlite folder: a copy of the run's migrated template
    // (creating a cluster takes seconds, copying one a fraction of that).
    const database = await testStoreFolder()
    const options = {
      port: 0,
      dataDir: work,
      database,
      cacheDir: join(work, 'cache'),
      quiet: true,
      print: () => {},
    }
    const targetsOf = (running: Awaited<ReturnType<typeof startHost>>, task: string): Target => ({
      url: running.url,
      sockets: [],
      task,
      enrol: async (name, kind, identityKey) => {
        await running.store.participants.enrolOpen({ task, name, kind, identityKey }).catch(() => undefined)
      },
    })
    const tasks = ['one', 'two'] as const
    const first = await startHost(options)
    for (const name of tasks) {
      const file = await realTaskJson(name, {
        aggregation: PLAINTEXT,
        training: { rounds: 3 },
        participation: { minParticipants: 2, gatherSeconds: 0 },
      })
      await first.host.submit(parseTaskFile(file, work), 'olga')
      await first.host.start(name, 'olga')
      await first.host.ready(name)
    }
    const before = tasks.map((task) =>
      ['p', 'q'].map((p) => testParticipant(targetsOf(first, task), `${task}-${p}`)),
    )
    for (const p of before.flat()) expect((await p.joined).ok).toBe(true)
    // both runs have kept a round: it is announced only once kept
    await Promise.all(
      before.map((ps) => new Promise((resolve) => ps[0]?.socket.once('round-result', resolve))),
    )
    const kept = await Promise.all(
      tasks.map(async (task) => (await first.store.runs.list({ task }))[0] as { id: number }),
    )
    const keptBefore = await Promise.all(
      kept.map(async (run) => (await first.store.rounds.list(run.id)).length),
    )
    for (const p of before.flat()) p.socket.disconnect()
    await first.close()

    const second = await startHost(options)
    onTestFinished(() => second.close())
    await Promise.all(tasks.map((task) => second.host.ready(task)))
    const after = tasks.map((task) =>
      ['p', 'q'].map((p) => testParticipant(targetsOf(second, task), `${task}-${p}`)),
    )
    for (const p of after.flat()) expect((await p.joined).ok).toBe(true)
    for (const [i, task] of tasks.entries()) {
      expect(await second.host.open(task, true).federation.done).toMatchObject({ completed: 3 })
      const rounds = await second.store.rounds.list(kept[i]?.id as number)
      expect(rounds.map((r) => [r.round, r.status])).toEqual([
        [1, 'aggregated'],
        [2, 'aggregated'],
        [3, 'aggregated'],
      ])
      expect(rounds.length).toBeGreaterThanOrEqual(keptBefore[i] as number)
      expect((await second.store.runs.get(kept[i]?.id as number))?.state).toBe('finished')
    }
    for (const p of after.flat()) p.socket.disconnect()
  })
})
