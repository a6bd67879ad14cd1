import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { verifyPassword } from '@fedtune/coordinator/operators'
import { openStore } from '@fedtune/coordinator/store'
import { main } from 'fedtune'
import { apiClient } from 'fedtune/api-client'
import { describe, expect, it } from 'vitest'
import { runAuditCommand } from '../../cli/src/audit-command.ts'
import type { CommandIo } from '../../cli/src/command-io.ts'
import { runOperatorCommand } from '../../cli/src/operator-command.ts'
import { startTestCoordinator } from '../harness.ts'
import { bearerFor, openTestStore, testStoreFolder } from '../test-store.ts'
import { testIo } from './test-io.ts'

/** A command's streams in memory: what it printed, and stdin holding `input` (or a terminal). */

const piped = (text: string) => Readable.from([Buffer.from(text)])

/** A terminal that "types" `lines`, each once the command asks (raw mode on): what a person at a prompt does. */
function terminal(lines: readonly string[]): CommandIo['stdin'] {
  const stream = new PassThrough() as PassThrough & { isTTY: boolean; setRawMode(raw: boolean): void }
  const queue = [...lines]
  stream.isTTY = true
  stream.setRawMode = (raw) => {
    if (raw) {
      const line = queue.shift()
      if (line !== undefined) queueMicrotask(() => stream.write(`${line}\r`))
    }
  }
  return stream
}

describe('fedtune operator add', () => {
  it('adds an admin straight to the database with the password from stdin, hashed, and audited as the system', async () => {
    const folder = await testStoreFolder()
    const t = testIo({ stdin: piped('a strong enough password\n') })
    const code = await runOperatorCommand(
      ['add', '--role', 'admin', '--database', folder, '--password-stdin', 'ada'],
      t.io,
    )
    expect(t.stderr()).toBe('')
    expect(code).toBe(0)
    expect(t.stdout()).toBe(`added admin "ada" to ${folder}\n`)
    const store = await openStore(folder)
    try {
      const ada = await store.operators.byName('ada')
      expect(ada).toMatchObject({ role: 'admin', disabledAt: null })
      expect(await verifyPassword('a strong enough password', ada?.passwordHash ?? '')).toBe(true)
      expect(await store.audit.list()).toMatchObject([
        { actor: 'system', action: 'operator.add', target: 'ada', outcome: 'ok', detail: { role: 'admin' } },
      ])
    } finally {
      await store.close()
    }
  })

  it('asks twice at a terminal without echoing, and refuses two passwords that differ', async () => {
    const folder = await testStoreFolder()
    const same = testIo({ stdin: terminal(['typed at the prompt', 'typed at the prompt']) })
    expect(await runOperatorCommand(['add', '--role', 'viewer', '--database', folder, 'vera'], same.io)).toBe(
      0,
    )
    expect(same.stderr()).toBe('password for vera: \nthe same password again: \n')
    const differ = testIo({ stdin: terminal(['typed at the prompt', 'typed differently']) })
    expect(
      await runOperatorCommand(['add', '--role', 'viewer', '--database', folder, 'vic'], differ.io),
    ).toBe(1)
    expect(differ.stderr()).toMatch(/the two passwords differ; nothing was added\n$/)
  })

  it('refuses a weak password, a taken name, an unknown role and a missing terminal, each saying why', async () => {
    const folder = await testStoreFolder()
    const add = async (args: string[], stdin: CommandIo['stdin'] = piped('a strong enough password')) => {
      const t = testIo({ stdin: stdin })
      return {
        code: await runOperatorCommand(['add', '--database', folder, ...args], t.io),
        stderr: t.stderr(),
      }
    }
    expect(await add(['--role', 'admin', '--password-stdin', 'ada'], piped('short\n'))).toEqual({
      code: 1,
      stderr:
        'fedtune operator: refused the password: expected a password of at least 12 characters, got 5\n',
    })
    expect((await add(['--role', 'admin', '--password-stdin', 'ada'])).code).toBe(0)
    expect(await add(['--role', 'admin', '--password-stdin', 'ada'])).toEqual({
      code: 1,
      stderr: `fedtune operator: an operator named "ada" already exists in ${folder}\n`,
    })
    const role = await add(['--role', 'root', '--password-stdin', 'bob'])
    expect(role.code).toBe(2)
    expect(role.stderr).toMatch(
      /^fedtune operator: expected --role admin, operator, viewer, got "root"\n\nUsage:/,
    )
    const noTerminal = await add(['--role', 'viewer', 'carol'], piped(''))
    expect(noTerminal.code).toBe(2)
    expect(noTerminal.stderr).toMatch(
      /no terminal to ask for the password on: pipe it in with --password-stdin/,
    )
  })
})

describe('fedtune audit', () => {
  it('prints the audit log as a table, or as JSON, for an admin token read from a file', async () => {
    const store = await openTestStore()
    const h = await startTestCoordinator({ store })
    const admin = await bearerFor(store, 'admin', 'auditor')
    await store.audit.append({
      actor: 'hospital\u001b[31m',
      action: 'participant.hello',
      outcome: 'refused',
      detail: { why: 'x' },
    })
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'fedtune-token-')), 'token')
    writeFileSync(tokenFile, `${admin.authorization.slice('Bearer '.length)}\n`)
    const t = testIo()
    expect(await runAuditCommand(['--coordinator', h.url, '--token-file', tokenFile], t.io)).toBe(0)
    const lines = t.stdout().split('\n')
    expect(lines[0]).toMatch(/^id +at +actor +address +action +target +outcome +detail$/)
    // The actor's escape sequence is printed escaped, never raw.
    expect(lines[1]).toMatch(
      /^\d+ +\S+Z +hospital\\x1b\[31m +- +participant\.hello +- +refused +\{"why":"x"\}$/,
    )
    expect(t.stdout()).not.toContain('\u001b')
    const json = testIo({
      env: {
        FEDTUNE_COORDINATOR: h.url,
        FEDTUNE_TOKEN: admin.authorization.slice(7),
      },
    })
    expect(await runAuditCommand(['--json', '--action', 'participant.hello', '--limit', '1'], json.io)).toBe(
      0,
    )
    expect(JSON.parse(json.stdout())).toMatchObject({
      entries: [{ action: 'participant.hello' }],
      next: expect.any(Number),
    })
  })

  it('says what the coordinator said when it refuses, and what is missing when no token or URL is given', async () => {
    const store = await openTestStore()
    const h = await startTestCoordinator({ store })
    const viewer = await bearerFor(store, 'viewer', 'just-looking')
    const refused = testIo({
      env: {
        FEDTUNE_COORDINATOR: h.url,
        FEDTUNE_TOKEN: viewer.authorization.slice(7),
      },
    })
    expect(await runAuditCommand([], refused.io)).toBe(1)
    expect(refused.stderr()).toBe(
      `fedtune audit: GET ${h.url}/api/audit answered 403 forbidden: GET /api/audit needs the admin role; "just-looking" is a viewer\n`,
    )
    const noToken = testIo({ env: { FEDTUNE_COORDINATOR: h.url } })
    expect(await runAuditCommand([], noToken.io)).toBe(2)
    expect(noToken.stderr()).toMatch(
      /^fedtune audit: expected an API token: --token-file <file> or FEDTUNE_TOKEN/,
    )
    const noUrl = testIo()
    expect(await runAuditCommand(['--limit', '0'], noUrl.io)).toBe(2)
    expect(noUrl.stderr()).toMatch(/^fedtune audit: --limit: expected a whole number from 1 to 1000, got "0"/)
  })

  it("the API client names the request and the server's words, and an unreachable coordinator", async () => {
    const client = apiClient({ baseUrl: 'http://127.0.0.1:9', token: 'ftk_x' })
    await expect(client.get('/api/status')).rejects.toThrow(
      /^GET http:\/\/127\.0\.0\.1:9\/api\/status: could not reach the coordinator/,
    )
  })
})

describe('the commands explain themselves', () => {
  it('fedtune --help lists operator and audit, and each has its own --help', async () => {
    const out: string[] = []
    const write = process.stdout.write
    process.stdout.write = ((t: string) => out.push(t) > 0) as typeof process.stdout.write
    try {
      expect(await main(['--help'])).toBe(0)
    } finally {
      process.stdout.write = write
    }
    expect(out.join('')).toMatch(
      /operator add --role <role> <name>[\s\S]*audit +read the coordinator's audit log/,
    )
    const operator = testIo()
    expect(await runOperatorCommand(['--help'], operator.io)).toBe(0)
    expect(operator.stdout()).toMatch(/^Usage: fedtune operator add --role <admin\|operator\|viewer> <name>/)
    const audit = testIo()
    expect(await runAuditCommand(['--help'], audit.io)).toBe(0)
    expect(audit.stdout()).toMatch(/^Usage: fedtune audit \[options\][\s\S]*--token-file <file>/)
  })
})
