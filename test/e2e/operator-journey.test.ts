import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { RoundRecord } from '@fedtune/coordinator'
import { openStore } from '@fedtune/coordinator/store'
import {
  emptyEvaluationCounts,
  encodeWeights,
  flattenEvaluationCounts,
  keyFingerprint,
  PROTOCOL_VERSION,
  packedParser,
  parseChallenge,
  signHello,
  type TaskInfo,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { io as connect, type Socket } from 'socket.io-client'
import { afterAll, describe, expect, it } from 'vitest'
import { runOperatorCommand } from '../../cli/src/operator-command.ts'
import { realTaskJson } from '../harness.ts'

/**
 * Issue 12, item 8, end to end with the coordinator as its own process: an admin creates an
 * operator; the operator submits a task, invites two hospitals and starts a run; a third hospital
 * waits for approval and is approved; a hospital is revoked and refused at its next hello; the
 * coordinator is killed (SIGKILL) mid-run and restarted without losing a round; the run completes,
 * and the audit log holds every step in order.
 */
const repo = fileURLToPath(new URL('../../', import.meta.url))
const bin = join(repo, 'cli', 'bin', 'fedtune.js')
const work = mkdtempSync(join(tmpdir(), 'fedtune-journey-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

type Coordinator = {
  child: ChildProcess
  lines: string[]
  line(pattern: RegExp): Promise<string>
  exited: Promise<number>
}

/** `fedtune coordinator` with no task file: it serves what operators submit, from its database. */
function coordinator(args: string[]): Coordinator {
  const child = spawn(process.execPath, [bin, 'coordinator', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  const waiting: { pattern: RegExp; resolve: (line: string) => void }[] = []
  const take = (line: string) => {
    lines.push(line)
    for (const w of waiting.splice(0))
      if (w.pattern.test(line)) w.resolve(line)
      else waiting.push(w)
  }
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', take)
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', take)
  const exited = new Promise<number>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : 0))),
  )
  return {
    child,
    lines,
    exited,
    line: (pattern) =>
      new Promise((resolve, reject) => {
        const seen = lines.find((l) => pattern.test(l))
        if (seen !== undefined) return resolve(seen)
        waiting.push({ pattern, resolve })
        void exited.then(() =>
          reject(new Error(`the coordinator exited before printing ${pattern}:\n${lines.join('\n')}`)),
        )
      }),
  }
}

/** A scripted hospital: says hello on every (re)connection, answers each round with Δ = round number. */
class Hospital {
  readonly name: string
  readonly seed: Uint8Array
  invite: string | undefined
  readonly heard: number[] = []
  readonly acks: { ok: boolean; code?: string; reason?: string }[] = []
  socket: Socket | undefined
  #task: TaskInfo | undefined
  #answered: ((ack: { ok: boolean; code?: string }) => void) | undefined
  /** A round whose update waits for `release`, and what it is waiting on. */
  #held: { round: number; arrived: () => void; send?: () => void } | undefined

  constructor(name: string, seedByte: number, invite?: string) {
    this.name = name
    this.seed = new Uint8Array(32).fill(seedByte)
    this.invite = invite
  }

  get fingerprint(): string {
    return keyFingerprint(nodeCrypto.ed25519PublicKey(this.seed))
  }

  /** Connects to `url` naming the task, says hello; resolves with the hello's answer. */
  join(url: string, task: string): Promise<{ ok: boolean; code?: string; reason?: string }> {
    this.socket?.disconnect()
    const socket = connect(url, {
      transports: ['websocket'],
      parser: packedParser,
      reconnection: false,
      auth: { task },
    })
    this.socket = socket
    const answered = new Promise<{ ok: boolean; code?: string }>((resolve) => {
      this.#answered = resolve
    })
    socket.on('challenge', (raw: unknown) => {
      const hello = signHello(nodeCrypto, this.seed, parseChallenge(raw), {
        protocol: PROTOCOL_VERSION,
        participant: this.name,
        kind: 'hospital',
        agent: 'journey-test',
        ...(this.invite === undefined ? {} : { invite: this.invite }),
      })
      socket.emit('hello', hello, (ack: { ok: boolean; task?: TaskInfo; code?: string; reason?: string }) => {
        this.acks.push(ack)
        if (ack.ok) {
          this.#task = ack.task
          this.invite = undefined // said once, until it has joined
        }
        this.#answered?.(ack)
      })
    })
    socket.on('round', (r: { round: number }) => {
      const task = this.#task
      if (!task) return
      const delta = new Float32Array(task.paramCount).fill(r.round)
      const metrics = { trainLoss: 0.1, evaluation: flattenEvaluationCounts(emptyEvaluationCounts(2)) }
      const send = () =>
        socket.emit(
          'update',
          { round: r.round, delta: encodeWeights(delta), examples: 1, labelCounts: [1, 0], metrics },
          () => {},
        )
      if (this.#held?.round !== r.round) return send()
      this.#held.send = send
      this.#held.arrived()
    })
    socket.on('round-result', (result: { round: number; status: string }) => {
      if (result.status === 'aggregated') this.heard.push(result.round)
    })
    socket.on('finished', () => socket.disconnect())
    return answered
  }

  /** Holds this hospital's update of `round` (so the round stays open) until `release`; resolves once the round came. */
  hold(round: number): Promise<void> {
    return new Promise((arrived) => {
      this.#held = { round, arrived }
    })
  }

  release(): void {
    const send = this.#held?.send
    this.#held = undefined
    send?.()
  }

  /** Resolves when this hospital has heard round `round`'s aggregated result. */
  async hears(round: number): Promise<void> {
    const socket = this.socket as Socket
    while (!this.heard.includes(round))
      await new Promise<void>((resolve) => socket.once('round-result', () => resolve()))
  }
}

describe('an operator’s journey, with the coordinator as its own process', () => {
  it('admin → operator → task → invites and an approval → revocation → SIGKILL and restart → run complete, every step audited in order', async () => {
    const data = join(work, 'data')
    const database = join(data, 'db')
    // 1. the first admin, on the coordinator's host, before it starts (a PGlite folder is one process's)
    const added = await runOperatorCommand(
      ['add', '--role', 'admin', '--database', database, '--password-stdin', 'ada'],
      {
        stdout: () => {},
        stderr: (t) => process.stderr.write(t),
        stdin: Readable.from([Buffer.from('ada has a long password\n')]),
        env: {},
      },
    )
    expect(added).toBe(0)

    const first = coordinator(['--port', '0', '--data', data, '--cache', join(work, 'cache')])
    const url = /at (http:\/\/[^\s]+):/.exec(await first.line(/^coordinator at http/))?.[1] as string
    const port = new URL(url).port
    const call = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      // biome-ignore lint/suspicious/noExplicitAny: the API's JSON, checked with toMatchObject
      const json = (await response.json().catch(() => null)) as any
      return { status: response.status, json, response }
    }
    const signIn = async (name: string, password: string) => {
      const { status, json, response } = await call('POST', '/api/session', {}, { name, password })
      expect(status).toBe(201)
      const cookie = response.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ')
      return { cookie, 'x-csrf-token': json.csrfToken as string }
    }

    // 2. the admin signs in and creates an operator
    const admin = await signIn('ada', 'ada has a long password')
    expect(
      (
        await call('POST', '/api/operators', admin, {
          name: 'olga',
          role: 'operator',
          password: 'olga has a long password',
        })
      ).status,
    ).toBe(201)
    // 3. the operator signs in and makes an API token for her scripts
    const olgaSession = await signIn('olga', 'olga has a long password')
    const token = await call('POST', '/api/tokens', olgaSession, { label: 'journey' })
    expect(token.status).toBe(201)
    const olga = { authorization: `Bearer ${token.json.token}` }

    // 4. she submits a task, invites two hospitals and starts a run
    const task = await realTaskJson('journey', {
      aggregation: { mode: 'plaintext-debug' },
      training: { rounds: 4 },
      participation: {
        minParticipants: 2,
        participantsPerRound: 3,
        gatherSeconds: 1,
        roundDeadlineSeconds: 120,
      },
      enrolment: { hospitals: 'approval' },
    })
    expect((await call('POST', '/api/tasks', olga, task)).status).toBe(201)
    const codes: Record<string, string> = {}
    for (const name of ['h1', 'h2']) {
      const invite = await call('POST', '/api/tasks/journey/invites', olga, { participant: name })
      expect(invite.status).toBe(201)
      codes[name] = invite.json.code
    }
    expect((await call('POST', '/api/tasks/journey/start', olga)).status).toBe(202)
    await first.line(/^task "journey" \(run 1\) serving at/)
    // paused until all three hospitals are in: no round starts meanwhile
    expect((await call('POST', '/api/tasks/journey/pause', olga)).json).toMatchObject({ state: 'paused' })

    // 5. the invited hospitals join; a third waits for approval, listed with the fingerprint it prints
    const h1 = new Hospital('h1', 1, codes.h1)
    const h2 = new Hospital('h2', 2, codes.h2)
    const h3 = new Hospital('h3', 3)
    expect(await h1.join(url, 'journey')).toMatchObject({ ok: true })
    expect(await h2.join(url, 'journey')).toMatchObject({ ok: true })
    expect(await h3.join(url, 'journey')).toMatchObject({ ok: false, code: 'pending-approval' })
    const listed = (await call('GET', '/api/tasks/journey/participants', olga)).json.participants
    expect(listed.find((p: { name: string }) => p.name === 'h3')).toMatchObject({
      state: 'pending',
      fingerprint: h3.fingerprint,
    })
    expect((await call('POST', '/api/tasks/journey/participants/h3/approve', olga)).status).toBe(200)
    expect(await h3.join(url, 'journey')).toMatchObject({ ok: true })
    expect((await call('POST', '/api/tasks/journey/resume', olga)).json).toMatchObject({ state: 'running' })

    // 6. round 1 with all three; while round 2 is open (h1 holds its update), h2 is revoked: out of
    // that round and every later one at once, and refused at its next hello
    const roundTwo = h1.hold(2)
    await Promise.all([h1.hears(1), h3.hears(1), roundTwo])
    const revoked = await call('POST', '/api/tasks/journey/participants/h2/revoke', olga, {
      reason: 'left the study',
    })
    expect(revoked).toMatchObject({ status: 200, json: { state: 'revoked' } })
    const revokedAt = Date.parse(revoked.json.decidedAt)
    expect(await h2.join(url, 'journey')).toMatchObject({ ok: false, code: 'revoked' })
    h1.release()

    // 7. after round 2 is announced, the coordinator is killed and restarted with the same command
    await Promise.all([h1.hears(2), h3.hears(2)])
    first.child.kill('SIGKILL')
    expect(await first.exited).toBe(-1)
    const announced = [...h1.heard]
    const second = coordinator(['--port', port, '--data', data, '--cache', join(work, 'cache')])
    await second.line(/^task "journey" \(run 1\) serving at/)
    expect(second.lines.join('\n')).toMatch(/continuing run 1 of task journey after round [23] /)
    expect(await h1.join(url, 'journey')).toMatchObject({ ok: true })
    expect(await h3.join(url, 'journey')).toMatchObject({ ok: true })
    await Promise.all([h1.hears(4), h3.hears(4)])
    await second.line(/^finished: task journey: all 4 rounds done/)
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)

    // 8. nothing lost, and the audit log holds every step in order
    const store = await openStore(database)
    try {
      const rounds = await store.rounds.list<RoundRecord>(1)
      expect(rounds.map((r) => [r.round, r.status])).toEqual([
        [1, 'aggregated'],
        [2, 'aggregated'],
        [3, 'aggregated'],
        [4, 'aggregated'],
      ])
      for (const round of announced) expect(rounds.find((r) => r.round === round)?.status).toBe('aggregated')
      expect(rounds[0]?.record.selected.slice().sort()).toEqual(['h1', 'h2', 'h3'])
      // the round open at the revocation has no update of h2 unless it came first; every later round leaves h2 out
      const two = rounds[1]?.record as RoundRecord
      if (!two.contributions.some((c) => c.participant === 'h2')) expect(two.dropped).toContain('h2')
      const later = rounds.filter((r) => Date.parse(r.record.startedAt) > revokedAt)
      expect(later.map((r) => r.round)).toEqual([3, 4])
      for (const r of later) expect(r.record.selected).not.toContain('h2')
      expect((await store.runs.get(1))?.state).toBe('finished')
      const steps = (await store.audit.list({ limit: 1000, newestFirst: false }))
        .filter((e) => e.outcome === 'ok' || e.action === 'participant.hello')
        .map((e) => `${e.actor} ${e.action}${e.target ? ` ${e.target}` : ''}`)
      const expected = [
        'system operator.add ada',
        'ada session.sign-in',
        'ada operator.add olga',
        'olga session.sign-in',
        'olga token.create token 1',
        'olga task.submit',
        'olga participant.invite h1',
        'olga participant.invite h2',
        'olga run.created',
        'olga run.start',
        'system run.started',
        'olga run.pause',
        'h1 participant.enrolled h1',
        'h2 participant.enrolled h2',
        'h3 participant.requested h3',
        'olga participant.approve h3',
        'olga run.resume',
        'olga participant.revoke h2',
        // its hello after the revocation, refused
        'h2 participant.hello h2',
        // the restart carries the run on
        'system run.started',
        'system run.finished',
      ]
      // in this order, with nothing of it missing (other rows may come between)
      let at = 0
      for (const step of steps) if (step === expected[at]) at++
      expect({ matched: expected.slice(0, at), steps }).toEqual({ matched: expected, steps })
    } finally {
      await store.close()
    }
  }, 240_000)
})
