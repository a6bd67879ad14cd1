import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { issueInvite } from '@fedtune/coordinator'
import { CONSOLE_NAMESPACE, CONSOLE_SOCKET_PATH } from '@fedtune/protocol'
import { io } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type MainCoordinator, startMainCoordinator } from '../harness.ts'
import { type Nginx, startNginx } from '../net/nginx.ts'
import { type TestPki, testPki } from '../net/test-pki.ts'
import { addOperator, TEST_PASSWORD } from '../test-store.ts'
import { writeImageFolder } from './image-folder.ts'

/**
 * The coordinator on plain HTTP on the loopback behind nginx terminating TLS, configured as
 * docs/nginx/fedtune.conf says (that very file, its ports and paths substituted): a hospital
 * federates through it, the operator console's websocket upgrades through it, and with
 * --trust-proxy the coordinator believes nginx about the client's address and the scheme, never
 * the client's own X-Forwarded-For.
 */
const repo = fileURLToPath(new URL('../../', import.meta.url))
const bin = join(repo, 'cli', 'bin', 'fedtune.js')
const run = promisify(execFile)
let work: string
let pki: TestPki
let coordinator: MainCoordinator
let nginx: Nginx
let ca: string

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fedtune-nginx-test-'))
  pki = testPki()
  ca = readFileSync(pki.caFile, 'utf8')
  const cert = pki.issue('nginx', ['localhost', '127.0.0.1'])
  coordinator = await startMainCoordinator(
    {
      aggregation: { mode: 'plaintext-debug' },
      participation: { minParticipants: 1, gatherSeconds: 0, roundDeadlineSeconds: 60 },
      enrolment: { hospitals: 'invite' },
    },
    {},
    { trustProxy: ['127.0.0.1'], consoleDir: join(repo, 'console', 'dist') },
  )
  nginx = await startNginx({
    coordinatorPort: Number(new URL(coordinator.url).port),
    certFile: cert.certFile,
    keyFile: cert.keyFile,
  })
  writeImageFolder(join(work, 'images'), ['a', 'b'])
  await addOperator(coordinator.store, 'operator', 'olga')
}, 60_000)
afterAll(async () => {
  await coordinator?.close()
  await nginx?.stop()
  pki?.remove()
  rmSync(work, { recursive: true, force: true })
})

/** An HTTPS request to nginx, trusting the test CA. */
function call(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${nginx.url}${path}`,
      {
        method,
        ca,
        headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      },
      (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          text += chunk
        })
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text }),
        )
      },
    )
    req.once('error', reject)
    req.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

describe('nginx terminating TLS in front of the coordinator (docs/nginx/fedtune.conf)', () => {
  it('a hospital given --ca federates through it: websocket upgraded, backbone streamed', async () => {
    const code = (
      await issueInvite(coordinator.store, { task: 'main', participant: 'h1', createdBy: 'test' })
    ).code
    writeFileSync(join(work, 'h1.invite'), code)
    const { stdout } = await run(
      process.execPath,
      [
        bin,
        'client',
        '--coordinator',
        nginx.url,
        '--data',
        join(work, 'images'),
        '--cache',
        join(work, 'cache'),
        '--name',
        'h1',
        '--invite-file',
        join(work, 'h1.invite'),
        '--allow-plaintext',
        '--ca',
        pki.caFile,
      ],
      { cwd: repo, timeout: 60_000, env: { ...process.env, HTTPS_PROXY: '', https_proxy: '' } },
    )
    expect(stdout).toContain('the coordinator finished the run: 1 of 1 rounds aggregated')
    // the websocket's line is written when nginx closes it, which may follow the client's exit
    const log = await nginx.accessLogWith(/"GET \/socket\.io\/\?[^"]*transport=websocket[^"]*" 101 /)
    expect(log).toMatch(/"GET \/backbone\/[0-9a-f]{64}\/model\.json HTTP\/1\.1" 200 /)
  }, 60_000)

  it('believes nginx about the address and the scheme, not what the client claims in X-Forwarded-For', async () => {
    const failed = await call(
      'POST',
      '/api/session',
      { 'x-forwarded-for': '203.0.113.9' },
      { name: 'olga', password: 'wrong password here' },
    )
    expect(failed.status).toBe(401)
    const signedIn = await call(
      'POST',
      '/api/session',
      { 'x-forwarded-for': '203.0.113.9' },
      { name: 'olga', password: TEST_PASSWORD },
    )
    expect(signedIn.status).toBe(201)
    // X-Forwarded-Proto https: the session cookie is Secure although the coordinator speaks plain HTTP
    const cookies = signedIn.headers['set-cookie'] as string[]
    expect(cookies.every((c) => /; Secure/i.test(c))).toBe(true)
    const audit = await coordinator.store.audit.list({ action: 'session.sign-in' })
    expect(audit.map((e) => [e.outcome, e.address])).toEqual([
      ['refused', '127.0.0.1'],
      ['ok', '127.0.0.1'],
    ])
  })

  it('the console’s websocket upgrades through it for a signed-in operator on the proxy’s origin, and refuses another origin', async () => {
    const signedIn = await call('POST', '/api/session', {}, { name: 'olga', password: TEST_PASSWORD })
    const cookie = (signedIn.headers['set-cookie'] as string[]).map((c) => c.split(';')[0]).join('; ')
    const consoleSocket = (origin: string) =>
      io(`${nginx.url}${CONSOLE_NAMESPACE}`, {
        path: CONSOLE_SOCKET_PATH,
        transports: ['websocket'],
        reconnection: false,
        ca,
        extraHeaders: { cookie, origin },
      })
    const own = consoleSocket(nginx.url)
    const outcome = await new Promise<string>((resolve) => {
      own.once('connect', () => resolve('connected'))
      own.once('connect_error', (error) => resolve(`refused: ${error.message}`))
    })
    own.disconnect()
    expect(outcome).toBe('connected')
    const foreign = consoleSocket('https://elsewhere.example')
    const refusal = await new Promise<{ code: string }>((resolve) =>
      foreign.once('connect_error', (error) => resolve((error as Error & { data: { code: string } }).data)),
    )
    foreign.disconnect()
    expect(refusal.code).toBe('foreign-origin')
    // written once nginx has closed the websocket the client just left
    expect(
      await nginx.accessLogWith(/"GET \/console\/socket\.io\/\?[^"]*transport=websocket[^"]*" 101 /),
    ).toMatch(/ 101 /)
  })
})
