import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_WEB_DIR } from '@fedtune/coordinator'
import { describe, expect, it } from 'vitest'
import { runCoordinatorCommand } from '../../cli/src/coordinator-command.ts'
import { testIo } from './test-io.ts'

/** The command's streams in memory. */

describe('fedtune coordinator --help', () => {
  it('names the --web option and its default, client-web/dist of this repository', async () => {
    const t = testIo()
    expect(await runCoordinatorCommand(['--help'], t.io)).toBe(0)
    expect(t.stdout()).toMatch(/^Usage: fedtune coordinator \[--task <task.json>\] \[options\]\n/)
    expect(t.stdout()).toMatch(/--web <dir> +the browser participants' page/)
    expect(t.stdout()).toContain(`(default ${DEFAULT_WEB_DIR})`)
  })

  it('lists every connection limit with its default', async () => {
    const t = testIo()
    expect(await runCoordinatorCommand(['-h'], t.io)).toBe(0)
    expect(t.stdout()).toMatch(/--hello-timeout <s> .*\n.*\(default 10\)/)
    expect(t.stdout()).toMatch(/--max-connections-per-address <n> .*\(default 32\)/)
    expect(t.stdout()).toMatch(/--events-per-second <n> .*\(default 20\)/)
    expect(t.stdout()).toMatch(/--event-burst <n> .*\(default 60\)/)
    expect(t.stdout()).toMatch(/--max-unknown-events <n> [\s\S]*?\(default 20\)/)
  })

  it('names the read pacing, when it starts, that 0 turns it off, and its default', async () => {
    const t = testIo()
    expect(await runCoordinatorCommand(['--help'], t.io)).toBe(0)
    expect(t.stdout()).toMatch(/--read-pacing <ms> +while 40 or more participants' messages arrive a/)
    expect(t.stdout()).toMatch(/0 turns it off[\s\S]*?\(default 20\)/)
  })

  it('names both ways of serving the metrics, and that without either /metrics answers 404', async () => {
    const t = testIo()
    expect(await runCoordinatorCommand(['--help'], t.io)).toBe(0)
    expect(t.stdout()).toMatch(/Without either, GET \/metrics answers 404/)
    expect(t.stdout()).toMatch(/--metrics-token-file <file> +serve GET \/metrics on the main port/)
    expect(t.stdout()).toMatch(/--metrics-address <host:port> +serve only \/metrics, without a token/)
  })
})

describe('fedtune coordinator refuses a wrong command line before it opens anything', () => {
  it.each([
    [['--event-burst', '0'], '--event-burst: expected a positive whole number, got "0"'],
    [['--max-unknown-events', '1e3'], '--max-unknown-events: expected a positive whole number, got "1e3"'],
    [['--port', '08'], '--port: expected an integer from 0 to 65535, got "08"'],
    [['--read-pacing', '101'], '--read-pacing: expected milliseconds from 0 (off) to 100, got "101"'],
    [['--read-pacing', '020'], '--read-pacing: expected milliseconds from 0 (off) to 100, got "020"'],
    [['--read-pacing', '2.5'], '--read-pacing: expected milliseconds from 0 (off) to 100, got "2.5"'],
    [['--port', '65536'], '--port: expected an integer from 0 to 65535, got "65536"'],
    [
      ['--metrics-address', 'localhost'],
      '--metrics-address: expected host:port (127.0.0.1:9464, [::1]:9464), got "localhost"',
    ],
    [
      ['--metrics-address', '127.0.0.1:99999'],
      '--metrics-address: expected an integer from 0 to 65535, got "99999"',
    ],
    [
      ['--metrics-token-file', '/nonexistent/metrics-token'],
      "--metrics-token-file: cannot read /nonexistent/metrics-token: ENOENT: no such file or directory, open '/nonexistent/metrics-token'",
    ],
    [
      ['--hello-timeout', '0.0005'],
      '--hello-timeout: expected a positive number of seconds (to the millisecond), got "0.0005"',
    ],
  ])('%j: status 2 and one line naming the flag, what it expects and what arrived', async (argv, line) => {
    const t = testIo()
    expect(await runCoordinatorCommand(['--task', 'x.json', ...argv], t.io)).toBe(2)
    expect(t.stderr()).toBe(`fedtune coordinator: ${line}\n`)
    expect(t.stdout()).toBe('')
  })

  it('a metrics token file whose token is too short: status 2, the file and the length named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedtune-metrics-token-'))
    try {
      const file = join(dir, 'token')
      writeFileSync(file, 'too-short\n')
      const t = testIo()
      expect(await runCoordinatorCommand(['--metrics-token-file', file], t.io)).toBe(2)
      expect(t.stderr()).toBe(
        `fedtune coordinator: --metrics-token-file: ${file}: expected a metrics token of at least 16 characters, got 9\n`,
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('an unknown option or a positional argument: status 2 and the usage', async () => {
    for (const argv of [['--rounds', '3'], ['task.json']]) {
      const t = testIo()
      expect(await runCoordinatorCommand(argv, t.io)).toBe(2)
      expect(t.stderr()).toMatch(/^fedtune coordinator: .*\n\nUsage: fedtune coordinator /)
    }
  })

  it('a task file that cannot be read: status 1, the file named', async () => {
    const t = testIo()
    expect(await runCoordinatorCommand(['--task', '/nonexistent/task.json', '--port', '0'], t.io)).toBe(1)
    expect(t.stderr()).toMatch(/^fedtune coordinator: .*\/nonexistent\/task\.json/)
  })
})
