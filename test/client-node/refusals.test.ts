import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { keyFingerprint } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { afterAll, describe, expect, it } from 'vitest'
import { fedtuneProcess } from '../cli/fedtune-process.ts'
import { seedOf, startTestCoordinator } from '../harness.ts'

/**
 * `fedtune client` against a real coordinator that refuses it: a refusal that retrying cannot change
 * ends the client with status 3 and says what was refused, why and what to do.
 */
const repo = fileURLToPath(new URL('../../', import.meta.url))
const _bin = join(repo, 'cli', 'bin', 'fedtune.js')
const _run = promisify(execFile)
const work = mkdtempSync(join(tmpdir(), 'fedtune-client-refusals-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

function client(...args: string[]) {
  return fedtuneProcess(['client', ...args])
}

/** A client with a fresh cache (so a new identity key) under `name`; its images are never read. */
const hospital = (url: string, name: string, ...more: string[]) =>
  client(
    '--coordinator',
    url,
    '--data',
    join(work, 'no-images'),
    '--cache',
    join(work, `cache-${name}`),
    '--name',
    name,
    ...more,
  )

describe('a refusal that retrying cannot change', () => {
  it('a name enrolled with another key: exit 3, the coordinator’s reason, and the key file to use', async () => {
    const coordinator = await startTestCoordinator({
      enrolled: new Map([['hospital-a', nodeCrypto.ed25519PublicKey(seedOf('hospital-a'))]]),
    })
    const { code, stdout, stderr } = await hospital(coordinator.url, 'hospital-a')
    expect(code).toBe(3)
    expect(stderr).toMatch(
      /^fedtune client: the coordinator refused to let us join: .*\(identity-mismatch\)\. /m,
    )
    expect(stderr).toContain(
      `hospital-a is enrolled with another identity key: run with the key it enrolled with (${join(work, 'cache-hospital-a')}/identity/hospital-a.ed25519), or choose another --name`,
    )
    expect(stdout).toMatch(
      /^identity key fingerprint: [0-9a-f]{4}(:[0-9a-f]{4}){7} \(name hospital-a; new key, /m,
    )
    expect(coordinator.enrolled).toEqual([])
  })

  it('a participant excluded after a complaint: exit 3, and only the operator can re-admit it', async () => {
    const coordinator = await startTestCoordinator({
      excluded: new Map([
        ['mallory', { participant: 'mallory', by: 'alice', reason: 'shares that do not open', round: 1 }],
      ]),
    })
    const { code, stderr } = await hospital(coordinator.url, 'mallory')
    expect(code).toBe(3)
    expect(stderr).toMatch(
      /\(excluded\)\. the coordinator excluded mallory after a complaint in a secure round; only its operator can re-admit it/,
    )
  })

  it('the fingerprint printed at start is keyFingerprint of the key the hello presents', async () => {
    const coordinator = await startTestCoordinator({
      enrolled: new Map([['hospital-b', nodeCrypto.ed25519PublicKey(seedOf('hospital-b'))]]),
    })
    const keys: Uint8Array[] = []
    coordinator.io.on('connection', (socket) =>
      socket.onAny((event, hello) => event === 'hello' && keys.push(hello.identityKey)),
    )
    const { stdout } = await hospital(coordinator.url, 'hospital-b')
    expect(keys).toHaveLength(1)
    expect(stdout).toContain(
      `identity key fingerprint: ${keyFingerprint(new Uint8Array(keys[0] as Uint8Array))} `,
    )
  })
})

describe('a refusal worth retrying', () => {
  it('the coordinator failing on a hello: the client says when it asks again, then joins on a new connection', async () => {
    let faults = 1
    const coordinator = await startTestCoordinator({
      admission: (admission) => ({
        admit: (claim, address) =>
          faults-- > 0 ? Promise.reject(new Error('injected fault')) : admission.admit(claim, address),
      }),
    })
    const { code, stdout, stderr } = await hospital(
      coordinator.url,
      'hospital-c',
      '--invite',
      await coordinator.invite('hospital-c'),
    )
    expect(stdout).toMatch(
      /^the coordinator did not let us join yet: .* \(internal\); trying again in (\d{3} ms|1 s)$/m,
    )
    expect(stdout).toMatch(/^joined task "test-task" as hospital-c: /m)
    expect(coordinator.enrolled).toEqual(['hospital-c'])
    // joined, then the test coordinator's one-file backbone does not load: a failure here, not a refusal
    expect(code).toBe(1)
    expect(stderr).toContain('model.json: expected a tfjs layers model.json')
  })
})

describe('the command line of tasks and enrolment codes', () => {
  it('--help documents the task, the codes and every exit status', async () => {
    const { code, stdout } = await client('--help')
    expect(code).toBe(0)
    expect(stdout).toMatch(/--task <name> +the coordinator's task to join/)
    expect(stdout).toMatch(/--invite-file <file>/)
    expect(stdout).toContain('fedtune participant approve --task <task> <name>')
    expect(stdout).toContain('Exit status:\n  0  the coordinator finished the run\n  1  a failure')
    expect(stdout).toContain('  2  a wrong command line\n  3  refused for good')
  })

  it('a malformed enrolment code is refused before anything starts, and never echoed', async () => {
    const secret = 'not a code, but secret'
    const given = await client('--coordinator', 'http://127.0.0.1:1', '--data', work, '--invite', secret)
    expect(given.code).toBe(2)
    expect(given.stderr).toContain(
      '--invite: expected an enrolment code of 16 to 128 letters, digits, "_" or "-", got 22 characters with others among them',
    )
    const file = join(work, 'invite.txt')
    writeFileSync(file, 'short\n')
    const fromFile = await client(
      '--coordinator',
      'http://127.0.0.1:1',
      '--data',
      work,
      '--invite-file',
      file,
    )
    expect(fromFile.code).toBe(2)
    expect(fromFile.stderr).toContain(
      `--invite-file ${file}: expected an enrolment code of 16 to 128 letters`,
    )
    for (const { stdout, stderr } of [given, fromFile]) {
      expect(stdout + stderr).not.toContain(secret)
      expect(stdout + stderr).not.toContain('short')
    }
  })

  it('both --invite and --invite-file, or a task name outside the alphabet, are refused', async () => {
    const both = await client(
      '--coordinator',
      'http://x',
      '--data',
      work,
      '--invite',
      'a'.repeat(16),
      '--invite-file',
      'f',
    )
    expect(both.code).toBe(2)
    expect(both.stderr).toContain('--invite and --invite-file: expected one of them, got both')
    const task = await client('--coordinator', 'http://x', '--data', work, '--task', '../admin')
    expect(task.code).toBe(2)
    expect(task.stderr).toContain(
      '--task: expected letters, digits, ".", "_" or "-" (at most 64), got "../admin"',
    )
  })
})
