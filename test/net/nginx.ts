import { mkdirSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, startLocalProcess } from './local-process.ts'

/** The documented reverse-proxy configuration, run as the test's nginx. */
export const NGINX_CONF = fileURLToPath(new URL('../../docs/nginx/fedtune.conf', import.meta.url))

export type Nginx = {
  /** https://localhost:<port>, as a browser or a client would name it. */
  readonly url: string
  readonly port: number
  /** What nginx logged of its requests. */
  accessLog(): string
  /**
   * The access log once it holds a line matching `pattern`. nginx writes a request's line when the
   * request ends, and a websocket's (101) only when nginx has closed both of its sides, which may be
   * after the client has exited; so the log is read again as nginx writes it, up to `timeoutMs`.
   */
  accessLogWith(pattern: RegExp, timeoutMs?: number): Promise<string>
  stop(): Promise<void>
}

/**
 * Debian's nginx (nginx-light) in the foreground as one process, with docs/nginx/fedtune.conf
 * included as written except for its listen port, certificate paths and upstream port; its pid
 * file, logs and temp folders are in a temp folder, so it needs no root and touches nothing else.
 */
export async function startNginx(o: {
  readonly coordinatorPort: number
  readonly certFile: string
  readonly keyFile: string
}): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'fedtune-nginx-'))
  mkdirSync(join(dir, 'tmp'))
  const port = await freePort()
  const documented = readFileSync(NGINX_CONF, 'utf8')
  const site = documented
    .replace('listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`)
    .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${o.coordinatorPort};`)
    .replace('/etc/ssl/fedtune/fullchain.pem', o.certFile)
    .replace('/etc/ssl/fedtune/privkey.pem', o.keyFile)
  if (site === documented) throw new Error(`${NGINX_CONF} no longer has the lines the test substitutes`)
  writeFileSync(join(dir, 'fedtune.conf'), site)
  const temp = (name: string) => `${name}_temp_path ${join(dir, 'tmp', name)};`
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'daemon off;',
      'master_process off;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} warn;`,
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${join(dir, 'access.log')};`,
      `  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}`,
      `  include ${join(dir, 'fedtune.conf')};`,
      '}',
      '',
    ].join('\n'),
  )
  let running: Awaited<ReturnType<typeof startLocalProcess>>
  try {
    running = await startLocalProcess({
      binary: '/usr/sbin/nginx',
      args: ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')],
      port,
      packageName: 'nginx-light',
      log: join(dir, 'error.log'),
    })
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  return {
    url: `https://localhost:${port}`,
    port,
    accessLog: () => readFileSync(join(dir, 'access.log'), 'utf8'),
    accessLogWith: (pattern, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const file = join(dir, 'access.log')
        const check = () => {
          const log = readFileSync(file, 'utf8')
          if (!pattern.test(log)) return false
          watcher.close()
          clearTimeout(timer)
          resolve(log)
          return true
        }
        const watcher = watch(file, () => void check())
        const timer = setTimeout(() => {
          watcher.close()
          reject(
            new Error(
              `nginx logged no line matching ${pattern} in ${timeoutMs} ms:\n${readFileSync(file, 'utf8')}`,
            ),
          )
        }, timeoutMs)
        check()
      }),
    async stop() {
      await running.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
