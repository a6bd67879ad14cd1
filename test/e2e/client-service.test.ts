import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type HistoryEntry, historyFile, readHistory } from '@fedtune/client-node'
import { issueInvite } from '@fedtune/coordinator'
import { secureVectorLength } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { PNG } from 'pngjs'
import { afterAll, describe, expect, it } from 'vitest'
import { runClientCommand } from '../../cli/src/client-command.ts'
import { testIo } from '../cli/test-io.ts'
import { type MainCoordinator, seedOf, startMainCoordinator, testParticipant } from '../harness.ts'

/**
 * `fedtune client` as a hospital runs it as a service: from a config file, with json log lines,
 * keeping its own round history, and stopped by SIGTERM mid-round like any dropout. Real client
 * processes on the real backbone; the other hospitals are the harness's scripted participants.
 */
const repo = fileURLToPath(new URL('../../', import.meta.url))
const bin = join(repo, 'cli', 'bin', 'fedtune.js')
const work = mkdtempSync(join(tmpdir(), 'fedtune-client-service-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** Gray 16x16 PNGs: class a dark, class b bright, `perClass` of each, with a little noise. */
function imageFolder(dir: string, perClass: number): string {
  for (const [label, level] of [
    ['a', 40],
    ['b', 200],
  ] as const) {
    mkdirSync(join(dir, label), { recursive: true })
    for (let i = 0; i < perClass; i++) {
      const png = new PNG({ width: 16, height: 16, colorType: 0 })
      for (let p = 0; p < 256; p++) {
        const v = Math.max(0, Math.min(255, level + ((p * 7 + i * 13) % 31) - 15))
        png.data.set([v, v, v, 255], p * 4)
      }
      writeFileSync(join(dir, label, `${i}.png`), PNG.sync.write(png, { colorType: 0 }))
    }
  }
  return dir
}

const data = imageFolder(join(work, 'images'), 10)

/**
 * A hospital whose identity key the coordinator's operator has approved already: the key file
 * its client would create, written into its cache, and the name enrolled with it.
 */
async function approvedHospital(c: MainCoordinator, name: string): Promise<string> {
  const cache = mkdtempSync(join(work, `cache-${name}-`))
  mkdirSync(join(cache, 'identity'), { recursive: true })
  writeFileSync(join(cache, 'identity', `${name}.ed25519`), `${Buffer.from(seedOf(name)).toString('hex')}\n`)
  await c.enrol(name, 'hospital', nodeCrypto.ed25519PublicKey(seedOf(name)))
  return cache
}

type Client = {
  readonly child: ChildProcess
  /** Every json line it printed so far, parsed. */
  readonly events: Record<string, unknown>[]
  /** Resolves with the first event named `event` (already printed or to come). */
  event(event: string): Promise<Record<string, unknown>>
  readonly exited: Promise<{ code: number | null; signal: string | null; stderr: string }>
}

/** `fedtune client --config <file> --log-format json` as a child process. */
function client(config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Client {
  const dir = mkdtempSync(join(work, 'etc-'))
  writeFileSync(join(dir, 'client.json'), JSON.stringify(config))
  const child = spawn(
    process.execPath,
    [bin, 'client', '--config', join(dir, 'client.json'), '--log-format', 'json'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FEDTUNE_INVITE: '', ...env } },
  )
  const events: Record<string, unknown>[] = []
  const waiting: { event: string; resolve: (e: Record<string, unknown>) => void }[] = []
  let buffer = ''
  let stderr = ''
  child.stdout?.on('data', (b: Buffer) => {
    buffer += b.toString()
    const lines = buffer.split('\n')
    buffer = lines.pop() ?? ''
    for (const line of lines) {
      const e = JSON.parse(line) as Record<string, unknown>
      events.push(e)
      for (const w of waiting.splice(0))
        if (w.event === e.event) w.resolve(e)
        else waiting.push(w)
    }
  })
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString()
  })
  const exited = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, stderr })),
  )
  return {
    child,
    events,
    event: (event) =>
      new Promise((resolve) => {
        const seen = events.find((e) => e.event === event)
        if (seen) resolve(seen)
        else waiting.push({ event, resolve })
      }),
    exited,
  }
}

describe('the hospital client as a service', () => {
  it('keeps its own history of a short federation, logs json lines, and `fedtune client history` prints it', async () => {
    const c = await startMainCoordinator({
      training: { rounds: 2, localEpochs: 1, batchSize: 8 },
      participation: { minParticipants: 2, participantsPerRound: 2, gatherSeconds: 0 },
      enrolment: { hospitals: 'invite' },
    })
    // enrolled by the code the operator issued, given in the environment as a systemd EnvironmentFile would
    const code = (await issueInvite(c.store, { task: 'main', participant: 'hospital-1', createdBy: 'test' }))
      .code
    const cache = mkdtempSync(join(work, 'cache-hospital-1-'))
    const h = client(
      { coordinator: c.url, data, cache, name: 'hospital-1', 'val-fraction': 0.2 },
      { FEDTUNE_INVITE: code },
    )
    await h.event('joined')
    testParticipant(c, 'scripted')
    const exit = await h.exited
    expect(exit.code, exit.stderr).toBe(0)
    expect(h.events.find((e) => e.event === 'invite')).toMatchObject({
      message: 'enrolment code: given (said at the first join only)',
    })
    expect(JSON.stringify(h.events)).not.toContain(code)
    expect(c.records.map((r) => r.status)).toEqual(['aggregated', 'aggregated'])
    // every line a JSON object with time, level, event and message; the round's events named
    for (const e of h.events) {
      expect(e.time).toMatch(/^\d{4}-\d\d-\d\dT/)
      expect(['info', 'warn', 'error']).toContain(e.level)
      expect(typeof e.message).toBe('string')
    }
    const events = h.events.map((e) => e.event)
    for (const name of [
      'started',
      'identity',
      'joined',
      'data-ready',
      'round-start',
      'global-metrics',
      'trained',
      'sent',
      'round-result',
      'finished',
    ])
      expect(events).toContain(name)
    expect(h.events.filter((e) => e.event === 'round-result').map((e) => [e.round, e.status])).toEqual([
      [1, 'aggregated'],
      [2, 'aggregated'],
    ])
    // the received global head on this hospital's 4 validation images: exact figures, printed, never sent
    const global = h.events.find((e) => e.event === 'global-metrics')
    expect(global).toMatchObject({ round: 1, examples: 4 })
    expect(global?.recall).toHaveLength(2)
    expect(global?.message).toMatch(/ACC [\d.]+; balanced ACC [\d.]+; AUC [\d.-]+; recall .*; sensitivity/)

    const params = c.federation.task.paramCount
    const masked = secureVectorLength(params, 2) * 4
    const { entries, unreadable } = readHistory(historyFile(cache, 'main', 'hospital-1'))
    expect(unreadable).toBe(0)
    expect(entries.map((e) => [e.round, e.task, e.outcome, e.examples, e.privacy])).toEqual([
      [1, 'main', 'aggregated', 16, null],
      [2, 'main', 'aggregated', 16, null],
    ])
    for (const e of entries as HistoryEntry[]) {
      // the masked vector and the key exchange, framed: more than the vector, far less than twice it
      expect(e.bytesSent).toBeGreaterThan(masked)
      expect(e.bytesSent).toBeLessThan(masked + 4000)
      expect(e.global?.examples).toBe(4)
      expect(e.global?.accuracy).toBeGreaterThanOrEqual(0)
      expect(e.global?.balancedAccuracy).toBeGreaterThanOrEqual(0)
      expect(e.global?.recall).toHaveLength(2)
    }

    const t = testIo()
    expect(await runClientCommand(['history', '--cache', cache, '--name', 'hospital-1'], t.io)).toBe(0)
    const table = t.out().split('\n')
    expect(table[0]).toBe(`task main, hospital-1 (${historyFile(cache, 'main', 'hospital-1')})`)
    expect(table[1]).toMatch(
      /^round +outcome +sent +global ACC +global BAL +global AUC +val images +ε ledger +ε coordinator +time/,
    )
    expect(table[2]).toMatch(/^1 +aggregated +\d+\.\d kB +\d\.\d{3} +\d\.\d{3} +(\d\.\d{3}|-) +4 +— +— +20/)
    expect(table[3]).toMatch(/^2 +aggregated /)
    const j = testIo()
    expect(
      await runClientCommand(['history', '--cache', cache, '--name', 'hospital-1', '--format', 'json'], j.io),
    ).toBe(0)
    expect(JSON.parse(j.out()).tasks[0].entries).toEqual(entries)
  })

  it('SIGTERM mid-round: the client exits 0 at once, the round completes without it, and its history says it dropped', async () => {
    const c = await startMainCoordinator({
      training: { rounds: 1, localEpochs: 1, batchSize: 8 },
      // three hospitals start the round together; two are enough to finish it (k = 3, t = 2)
      participation: { minParticipants: 2, participantsPerRound: 3, gatherSeconds: 600 },
    })
    const cache = await approvedHospital(c, 'hospital-1')
    const h = client({ coordinator: c.url, data, cache, name: 'hospital-1' })
    await h.event('joined')
    testParticipant(c, 'scripted-a')
    testParticipant(c, 'scripted-b')
    const start = await h.event('round-start')
    expect(start).toMatchObject({ round: 1, secure: true })
    h.child.kill('SIGTERM')
    // promptly: a bound for a hung client to fail by, not a measure of speed
    const { code, signal, stderr } = await Promise.race([
      h.exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('the client did not exit within 15 s of SIGTERM')), 15_000),
      ),
    ])
    expect({ code, signal }, stderr).toEqual({ code: 0, signal: null })
    expect(h.events.at(-1)).toMatchObject({ event: 'stopped', signal: 'SIGTERM', level: 'info' })
    expect(h.events.find((e) => e.event === 'dropped-out')).toMatchObject({ round: 1, reason: 'stopped' })
    await c.federation.done
    expect(c.records).toHaveLength(1)
    expect(c.records[0]?.status).toBe('aggregated')
    expect([...(c.records[0]?.survivors ?? [])].sort()).toEqual(['scripted-a', 'scripted-b'])
    const { entries } = readHistory(historyFile(cache, 'main', 'hospital-1'))
    expect(entries.map((e) => [e.round, e.outcome, e.reason])).toEqual([[1, 'dropped', 'stopped']])
  })
})
