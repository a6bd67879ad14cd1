import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, startLocalProcess } from './local-process.ts'

/** Debian's tinyproxy on 127.0.0.1, as a hospital's forward proxy: CONNECT only to `connectPorts`. */
export type Tinyproxy = {
  readonly url: string
  /** Its log so far: every CONNECT it was asked for is there. */
  log(): string
  stop(): Promise<void>
}

/**
 * Starts tinyproxy in the foreground with a config in a temp folder (its log and pid file there
 * too), allowing clients from 127.0.0.1 and CONNECT to `connectPorts` alone (tinyproxy refuses
 * any other port with 403). Stopped and removed by `stop`.
 */
export async function startTinyproxy(connectPorts: readonly number[]): Promise<Tinyproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'fedtune-tinyproxy-'))
  const port = await freePort()
  const logFile = join(dir, 'tinyproxy.log')
  writeFileSync(
    join(dir, 'tinyproxy.conf'),
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 60',
      `LogFile "${logFile}"`,
      'LogLevel Info',
      `PidFile "${join(dir, 'tinyproxy.pid')}"`,
      'MaxClients 50',
      'Allow 127.0.0.1',
      ...connectPorts.map((p) => `ConnectPort ${p}`),
      '',
    ].join('\n'),
  )
  let running: Awaited<ReturnType<typeof startLocalProcess>>
  try {
    running = await startLocalProcess({
      binary: '/usr/bin/tinyproxy',
      args: ['-d', '-c', join(dir, 'tinyproxy.conf')],
      port,
      packageName: 'tinyproxy',
      log: logFile,
    })
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  return {
    url: `http://127.0.0.1:${port}`,
    log: () => readFileSync(logFile, 'utf8'),
    async stop() {
      await running.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
