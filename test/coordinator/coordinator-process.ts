import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const bin = join(repo, 'cli', 'bin', 'fedtune.js')
/** The real backbone in ../shared that a child coordinator's task file names. */
export const backboneDir = join(repo, '..', 'shared', 'backbones', 'mobilenet_v2_0.35_224')

/** `fedtune coordinator` as a child process, for tests that kill it: its URL once it serves, its exit, every line it printed. */
export type CoordinatorProcess = {
  child: ChildProcess
  url: Promise<string>
  /** The exit code; -1 when a signal ended it. */
  exited: Promise<number>
  lines: string[]
}

export function coordinatorProcess(args: string[]): CoordinatorProcess {
  const child = spawn(process.execPath, [bin, 'coordinator', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  const url = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      lines.push(line)
      // the port opens at once; the run serves once its backbone is loaded
      const match = / serving at (http:\/\/[^\s]+):/.exec(line)
      if (match?.[1]) resolve(match[1])
    })
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => lines.push(line))
    child.once('exit', () => reject(new Error(`the coordinator exited: ${lines.join('\n')}`)))
  })
  const exited = new Promise<number>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : 0))),
  )
  return { child, url, exited, lines }
}
