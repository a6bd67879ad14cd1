import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runClientCommand } from '../../cli/src/client-command.ts'
import { testIo } from './test-io.ts'

const work = mkdtempSync(join(tmpdir(), 'fedtune-client-command-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** The command's streams in memory. */

const required = ['--coordinator', 'http://127.0.0.1:9', '--data', work]

describe('fedtune client refuses a wrong command line before it connects', () => {
  it('prints its usage for --help', async () => {
    const t = testIo()
    expect(await runClientCommand(['--help'], t.io)).toBe(0)
    expect(t.stdout()).toMatch(/^Usage: fedtune client --coordinator <url> --data <folder> \[options\]\n/)
  })

  it('documents --labels and the labels file: its columns, its paths, and what is refused', async () => {
    const t = testIo()
    expect(await runClientCommand(['--help'], t.io)).toBe(0)
    expect(t.stdout()).toMatch(/--labels <file> +a labels file \(CSV: path, label\)/)
    expect(t.stdout()).toContain('row naming a "path" (or "file") column and a "label" (or "class") column')
    expect(t.stdout()).toContain('  path,label,patient\n  P001/study1/IM0001.dcm,normal,P001\n')
    expect(t.stdout()).toContain('every such row at once with its line number')
  })

  it.each([
    [['--coordinator', 'coordinator:8080', '--data', work], '--coordinator: expected an http(s) URL'],
    [['--coordinator', 'http://127.0.0.1:9'], '--data: expected the folder of images'],
    [
      [...required, '--name', 'a b'],
      '--name: expected letters, digits, ".", "_" or "-" (at most 64), got "a b"',
    ],
    [[...required, '--val-fraction', '1'], '--val-fraction: expected a number in [0, 1), got "1"'],
    [[...required, '--val-fraction', '1e-1'], '--val-fraction: expected a number in [0, 1), got "1e-1"'],
    [
      [...required, '--invite', 'x'.repeat(16), '--invite-file', join(work, 'code')],
      '--invite and --invite-file: expected one of them, got both',
    ],
  ])('%j: status 2 and what was expected', async (argv, message) => {
    const t = testIo()
    expect(await runClientCommand(argv, t.io)).toBe(2)
    expect(t.stderr()).toMatch(/^fedtune client: .*\n$/)
    expect(t.stderr()).toContain(message)
    expect(t.stdout()).toBe('')
  })

  it('an enrolment code that is not one is refused without quoting it', async () => {
    const file = join(work, 'bad-code')
    writeFileSync(file, 'secret code with spaces\n')
    const t = testIo()
    expect(await runClientCommand([...required, '--invite-file', file], t.io)).toBe(2)
    expect(t.stderr()).toBe(
      `fedtune client: --invite-file ${file}: expected an enrolment code of 16 to 128 letters, digits, "_" or "-", got 23 characters with others among them\n`,
    )
  })

  it('an unknown option: status 2 and the usage', async () => {
    const t = testIo()
    expect(await runClientCommand([...required, '--epochs', '3'], t.io)).toBe(2)
    expect(t.stderr()).toMatch(/^fedtune client: Unknown option '--epochs'.*\n\nUsage: fedtune client /)
  })
})
