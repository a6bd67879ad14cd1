import { Readable } from 'node:stream'
import type { CommandIo } from '../../cli/src/command-io.ts'

/**
 * A command's terminal for a test: what it wrote to stdout and stderr, each alone and both in the
 * order written (`out`), with an environment and a stdin of the test's choosing (empty by default).
 */
export function testIo(opts: { readonly env?: NodeJS.ProcessEnv; readonly stdin?: CommandIo['stdin'] } = {}) {
  const stdout: string[] = []
  const stderr: string[] = []
  const both: string[] = []
  const io: CommandIo = {
    stdout: (t) => {
      stdout.push(t)
      both.push(t)
    },
    stderr: (t) => {
      stderr.push(t)
      both.push(t)
    },
    stdin: opts.stdin ?? Readable.from([]),
    env: opts.env ?? {},
  }
  return {
    io,
    stdout: () => stdout.join(''),
    stderr: () => stderr.join(''),
    out: () => both.join(''),
  }
}
