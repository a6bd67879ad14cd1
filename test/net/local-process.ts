import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'

/** A port free on 127.0.0.1 just now, for a program that takes a port number rather than 0. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** A helper program the network tests start (tinyproxy, nginx): its process and how to stop it. */
export type LocalProcess = {
  readonly port: number
  readonly child: ChildProcess
  stop(): Promise<void>
}

/**
 * Starts `binary` (a Debian package's program) and resolves once it accepts connections on `port`;
 * a missing binary fails with how to install it, an early exit with `log`'s last lines.
 */
export async function startLocalProcess(o: {
  readonly binary: string
  readonly args: readonly string[]
  readonly port: number
  /** The Debian package that holds `binary`, for the advice when it is missing. */
  readonly packageName: string
  /** Where the program writes its errors, quoted when it exits early. */
  readonly log: string
}): Promise<LocalProcess> {
  if (!existsSync(o.binary))
    throw new Error(
      `${o.binary} is missing: the network tests start Debian's ${o.packageName}; install it (apt-get install ${o.packageName}; .ci/run does)`,
    )
  const child = spawn(o.binary, o.args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const tail = () =>
    `${stderr}${existsSync(o.log) ? readFileSync(o.log, 'utf8').split('\n').slice(-15).join('\n') : ''}`
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(
        `${o.binary} exited (${child.exitCode ?? child.signalCode}) before it listened:\n${tail()}`,
      )
    if (await accepts(o.port)) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${o.binary} did not listen on 127.0.0.1:${o.port} within 10 s:\n${tail()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    port: o.port,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        await exited
      }
    },
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
