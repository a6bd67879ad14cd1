import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const bin = join(repo, 'cli', 'bin', 'fedtune.js')
const run = promisify(execFile)

/** What a finished `fedtune` process said, and its exit status. */
export type Finished = { readonly code: number; readonly stdout: string; readonly stderr: string }

/**
 * `fedtune <args…>` as its own process from the repository's folder, to its end: its status and
 * output, whatever the status. `env` is added to this process's environment.
 */
export async function fedtuneProcess(
  args: readonly string[],
  opts: { readonly env?: NodeJS.ProcessEnv; readonly timeoutMs?: number } = {},
): Promise<Finished> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      cwd: repo,
      timeout: opts.timeoutMs ?? 120_000,
      ...(opts.env === undefined ? {} : { env: { ...process.env, ...opts.env } }),
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as Finished
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}
