import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { clientCommand, runClientCommand, withConfig } from '../../cli/src/client-command.ts'
import { configValues, mergeOptions } from '../../cli/src/client-config.ts'
import { CLIENT_OPTIONS } from '../../cli/src/client-options.ts'
import { testIo } from './test-io.ts'

const work = mkdtempSync(join(tmpdir(), 'fedtune-client-config-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const code = 'c'.repeat(24)

/** A config file in its own folder, and the command it makes with `argv` on top. */
function config(json: unknown, argv: Record<string, string | boolean> = {}, env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(work, 'etc-'))
  const file = join(dir, 'client.json')
  writeFileSync(file, typeof json === 'string' ? json : JSON.stringify(json))
  return { dir, command: () => clientCommand(withConfig({ config: file, ...argv }), env) }
}

const base = { coordinator: 'https://coordinator.example', data: 'images' }

describe('a config file holds the client’s options, keyed by their long names', () => {
  it('every option of the table, with relative paths read from the file’s folder', () => {
    const invite = join(work, 'code')
    writeFileSync(invite, `${code}\n`)
    const { dir, command } = config({
      ...base,
      labels: 'labels.csv',
      ca: 'ca.pem',
      'pin-sha256': 'AB'.repeat(32),
      proxy: 'http://proxy.example:3128',
      cache: 'cache',
      name: 'hospital-7',
      task: 'xray',
      'invite-file': invite,
      'val-fraction': 0.2,
      'allow-plaintext': true,
      audit: '/var/lib/fedtune/audit',
      'log-format': 'json',
    })
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n')
    const { connection, ...rest } = command()
    expect(connection.trust).toBe(`the CA file ${join(dir, 'ca.pem')}`)
    expect(connection.proxy).toBe('http://proxy.example:3128')
    expect(rest).toEqual({
      coordinatorUrl: 'https://coordinator.example',
      dataDir: join(dir, 'images'),
      labelsFile: join(dir, 'labels.csv'),
      cacheDir: join(dir, 'cache'),
      name: 'hospital-7',
      task: 'xray',
      invite: code,
      valFraction: 0.2,
      allowPlaintext: true,
      auditDir: '/var/lib/fedtune/audit',
      logFormat: 'json',
      check: false,
    })
  })

  it('the command line overrides the file, option by option', () => {
    const { dir, command } = config(
      { ...base, name: 'from-file', 'log-format': 'json' },
      { name: 'from-command-line', check: true },
    )
    const c = command()
    expect(c.name).toBe('from-command-line')
    expect(c.check).toBe(true)
    expect(c.logFormat).toBe('json')
    expect(c.dataDir).toBe(join(dir, 'images'))
    expect(mergeOptions({ a: 'file', b: 'file' }, { a: 'line', b: undefined })).toEqual({
      a: 'line',
      b: 'file',
    })
  })

  it('the enrolment code comes from FEDTUNE_INVITE, never from the file', () => {
    expect(config(base, {}, { FEDTUNE_INVITE: code }).command().invite).toBe(code)
    expect(() => config({ ...base, invite: code }).command()).toThrow(
      /"invite": the enrolment code is a secret and stays out of the config file: set FEDTUNE_INVITE/,
    )
  })

  it('FEDTUNE_INVITE and an invite option at once are refused, without quoting the code', () => {
    const file = join(work, 'code2')
    writeFileSync(file, code)
    expect(() => config({ ...base, 'invite-file': file }, {}, { FEDTUNE_INVITE: code }).command()).toThrow(
      '--invite-file and FEDTUNE_INVITE: expected one enrolment code, got both; unset FEDTUNE_INVITE or drop the option',
    )
    expect(() => config(base, {}, { FEDTUNE_INVITE: 'not a code' }).command()).toThrow(
      'FEDTUNE_INVITE: expected an enrolment code of 16 to 128 letters, digits, "_" or "-", got 10 characters with others among them',
    )
  })

  it('unknown keys and wrong types are refused together, each with its key and what was expected', () => {
    let message = ''
    try {
      configValues(
        {
          coordinator: 8080,
          data: ['a'],
          'allow-plaintext': 'yes',
          epochs: 3,
          config: 'other.json',
          help: true,
          check: true,
        },
        '/etc/fedtune',
        CLIENT_OPTIONS,
        'client.json',
      )
    } catch (error) {
      message = (error as Error).message
    }
    expect(message.split('\n')).toEqual([
      '--config client.json: 6 problems:',
      '  "data": expected a path (relative to the file’s folder), got a list',
      '  "allow-plaintext": expected true or false, got string "yes"',
      `  "epochs": not an option; expected one of log-format, coordinator, data, labels, cache, name, task, invite-file, val-fraction, allow-plaintext, audit, ca, pin-sha256, proxy`,
      '  "config": a config file cannot name another config file',
      '  "help": for the command line only',
      '  "check": a check is asked for on the command line (fedtune client --check)',
    ])
  })

  it('a number for an option that takes one is read as the command line would read it', () => {
    expect(configValues({ coordinator: 8080, 'val-fraction': 0.25 }, '/', CLIENT_OPTIONS, 'f')).toEqual({
      coordinator: '8080',
      'val-fraction': '0.25',
    })
    expect(() => config({ ...base, 'val-fraction': 2 }).command()).toThrow(
      '--val-fraction: expected a number in [0, 1), got "2"',
    )
  })

  it('an option added to the table works in the file without more code', () => {
    const table = {
      ...CLIENT_OPTIONS,
      ca: { type: 'string', path: true },
      pin: { type: 'string', multiple: true },
    } as const
    expect(configValues({ ca: 'ca.pem', pin: ['a', 'b'] }, '/etc/fedtune', table, 'f')).toEqual({
      ca: '/etc/fedtune/ca.pem',
      pin: ['a', 'b'],
    })
    expect(() => configValues({ pin: 'a' }, '/', table, 'f')).toThrow(
      '"pin": expected a list, each a string or number, got string "a"',
    )
  })

  it('through the command: a file that is not a JSON object, or cannot be read, exits 2 with why', async () => {
    const { dir } = config('[1, 2]')
    const t = testIo()
    expect(await runClientCommand(['--config', join(dir, 'client.json')], t.io)).toBe(2)
    expect(t.stderr()).toMatch(
      /^fedtune client: --config .*client\.json: expected a JSON object of options .*got a list\n$/,
    )
    const u = testIo()
    expect(await runClientCommand(['--config', join(work, 'missing.json')], u.io)).toBe(2)
    expect(u.stderr()).toContain('--config: cannot read')
    expect(u.stderr()).toContain('(ENOENT)')
    const bad = config('{"coordinator": ')
    const v = testIo()
    expect(await runClientCommand(['--config', join(bad.dir, 'client.json')], v.io)).toBe(2)
    expect(v.stderr()).toMatch(/: expected JSON, /)
  })

  it('--log-format takes text or json only', () => {
    expect(() => config({ ...base, 'log-format': 'xml' }).command()).toThrow(
      '--log-format: expected text or json, got "xml"',
    )
  })
})

describe('the documented systemd unit (docs/fedtune-client.service)', () => {
  const unit = readFileSync(new URL('../../docs/fedtune-client.service', import.meta.url), 'utf8')
  const setting = (key: string) => unit.match(new RegExp(`^${key}=(.*)$`, 'm'))?.[1]

  it('starts the client from its config file and restarts it on failure, never on a final status', async () => {
    expect(setting('ExecStart')).toBe(
      '/usr/bin/env fedtune client --config /etc/fedtune/client.json --log-format json',
    )
    expect(setting('Restart')).toBe('on-failure')
    expect(setting('RestartSec')).toMatch(/^\d+s$/)
    // the statuses the usage calls final: a wrong command line (2), refused for good (3), the
    // privacy budget spent (4)
    const t = testIo()
    await runClientCommand(['--help'], t.io)
    expect(t.stdout()).toContain('  2  a wrong command line\n  3  refused for good')
    expect(t.stdout()).toMatch(
      /\n {2}4 {2}left the run: the next round would take this hospital past the task's privacy budget/,
    )
    expect(setting('RestartPreventExitStatus')).toBe('2 3 4')
  })

  it('keeps the invite out of the config, and writes only to the cache', () => {
    expect(setting('EnvironmentFile')).toBe('-/etc/fedtune/client.env')
    expect(setting('User')).toBe('fedtune')
    expect(setting('NoNewPrivileges')).toBe('yes')
    expect(setting('ProtectSystem')).toBe('strict')
    expect(setting('ReadWritePaths')).toBe('/var/lib/fedtune')
  })
})
