import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { issueInvite } from '@fedtune/coordinator'
import { CONSOLE_NAMESPACE, CONSOLE_SOCKET_PATH } from '@fedtune/protocol'
import { io } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fedtuneProcess } from '../cli/fedtune-process.ts'
import { type MainCoordinator, startMainCoordinator, startTestCoordinator } from '../harness.ts'
import { type TestCertificate, type TestPki, testPki } from '../net/test-pki.ts'
import { startTinyproxy, type Tinyproxy } from '../net/tinyproxy.ts'
import { writeImageFolder } from './image-folder.ts'

/**
 * `fedtune client` federating with a coordinator that serves HTTPS and WSS itself, through a
 * hospital's forward proxy (tinyproxy): the backbone download and the websocket both go through the
 * proxy's CONNECT tunnel and both verify the coordinator against the CA the test made. A client
 * that cannot verify the coordinator stops at once with one line saying why, status 3.
 */
const repo = fileURLToPath(new URL('../../', import.meta.url))
const _bin = join(repo, 'cli', 'bin', 'fedtune.js')
const _run = promisify(execFile)
let work: string
let pki: TestPki
let cert: TestCertificate
let coordinator: MainCoordinator
let proxy: Tinyproxy

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fedtune-tls-'))
  pki = testPki()
  cert = pki.issue('coordinator', ['localhost', '127.0.0.1'])
  coordinator = await startMainCoordinator(
    {
      aggregation: { mode: 'plaintext-debug' },
      participation: { minParticipants: 1, gatherSeconds: 0, roundDeadlineSeconds: 60 },
      enrolment: { hospitals: 'invite' },
    },
    {},
    {
      tls: { cert: readFileSync(cert.certFile, 'utf8'), key: readFileSync(cert.keyFile, 'utf8') },
      consoleDir: join(repo, 'console', 'dist'),
    },
  )
  proxy = await startTinyproxy([Number(new URL(coordinator.url).port)])
  writeImageFolder(join(work, 'images'), ['a', 'b'])
}, 60_000)
afterAll(async () => {
  await coordinator?.close()
  await proxy?.stop()
  pki?.remove()
  rmSync(work, { recursive: true, force: true })
})

function client(...args: string[]) {
  return fedtuneProcess(['client', ...args], {
    timeoutMs: 60_000,
    env: { HTTPS_PROXY: '', https_proxy: '', NO_PROXY: '' },
  })
}

const hospital = (url: string, name: string, ...more: string[]) =>
  client(
    '--coordinator',
    url,
    '--data',
    join(work, 'images'),
    '--cache',
    join(work, `cache-${name}`),
    '--name',
    name,
    ...more,
  )

describe('a coordinator serving HTTPS and WSS itself', () => {
  it('says its https:// addresses, for participants and the operator console alike', () => {
    expect(coordinator.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    expect(coordinator.lines).toContain(`operator console at ${coordinator.url}/console`)
    expect(
      coordinator.lines.some((l) => l.startsWith(`task "main" (run 1) serving at ${coordinator.url}:`)),
    ).toBe(true)
  })

  it('its console socket answers over WSS, where an unsigned-in handshake hears the console’s own refusal', async () => {
    const page = await fetchWithCa(`${coordinator.url}/console`)
    expect(page).toMatch(/<html/i)
    const socket = io(`${coordinator.url}${CONSOLE_NAMESPACE}`, {
      path: CONSOLE_SOCKET_PATH,
      transports: ['websocket'],
      reconnection: false,
      ca: readFileSync(pki.caFile, 'utf8'),
    })
    const refusal = await new Promise<{ code: string }>((resolve) =>
      socket.once('connect_error', (error) => resolve((error as Error & { data: { code: string } }).data)),
    )
    socket.disconnect()
    expect(refusal.code).toBe('unauthenticated')
  })

  it('a hospital given --ca and --proxy federates through the proxy: backbone and websocket both tunnelled', async () => {
    const code = (
      await issueInvite(coordinator.store, { task: 'main', participant: 'h1', createdBy: 'test' })
    ).code
    const inviteFile = join(work, 'h1.invite')
    writeFileSync(inviteFile, code)
    const port = new URL(coordinator.url).port
    const result = await hospital(
      coordinator.url,
      'h1',
      '--invite-file',
      inviteFile,
      '--allow-plaintext',
      '--ca',
      pki.caFile,
      '--proxy',
      proxy.url,
    )
    expect(result.stderr).not.toMatch(/fedtune client:/)
    expect(result.code).toBe(0)
    expect(result.stdout).toContain(
      `coordinator ${coordinator.url}: certificate checked against the CA file ${pki.caFile}; through the proxy ${proxy.url}`,
    )
    expect(result.stdout).toContain('the coordinator finished the run: 1 of 1 rounds aggregated')
    // one tunnel for the websocket, one per backbone file: every byte went through the proxy
    const tunnels = proxy
      .log()
      .split('\n')
      .filter((l) => l.includes(`CONNECT 127.0.0.1:${port} HTTP/1.1`))
    expect(tunnels.length).toBeGreaterThanOrEqual(2)
  }, 60_000)

  it("a hospital on Node's built-in CA list and the system's bundle stops at once: status 3 and one line saying to pass --ca", async () => {
    const result = await hospital(coordinator.url, 'h2')
    expect(result.code).toBe(3)
    expect(result.stderr).toBe(
      "fedtune client: the coordinator's certificate is not signed by a CA in Node's built-in CA list and the system's /etc/ssl/certs/ca-certificates.crt (NODE_EXTRA_CA_CERTS adds to them) (UNABLE_TO_VERIFY_LEAF_SIGNATURE); pass --ca <file> with the CA that issued it\n",
    )
  }, 30_000)

  it('a pinned fingerprint of another certificate: status 3 and both fingerprints', async () => {
    const other = pki.issue('other', ['localhost'])
    const result = await hospital(
      coordinator.url,
      'h3',
      '--ca',
      pki.caFile,
      '--pin-sha256',
      other.fingerprint,
    )
    expect(result.code).toBe(3)
    expect(result.stderr).toContain(
      `the coordinator's certificate has SHA-256 fingerprint ${cert.fingerprint}, not the pinned ${other.fingerprint}`,
    )
  }, 30_000)
})

describe('a certificate that does not match the coordinator’s name', () => {
  it('is refused by the client with both names, status 3', async () => {
    const wrong = pki.issue('wrong-name', ['coordinator.example.org', '10.0.0.7'])
    const other = await startTestCoordinator({
      https: { cert: readFileSync(wrong.certFile, 'utf8'), key: readFileSync(wrong.keyFile, 'utf8') },
    })
    const result = await hospital(other.url, 'h4', '--ca', pki.caFile)
    expect(result.code).toBe(3)
    expect(result.stderr).toBe(
      "fedtune client: the coordinator's certificate is for coordinator.example.org, 10.0.0.7, not 127.0.0.1: connect by one of those names, or have its operator issue a certificate for 127.0.0.1\n",
    )
  }, 30_000)
})

/** GET with the test CA trusted (node's fetch has no CA option; https.get has). */
async function fetchWithCa(url: string): Promise<string> {
  const { get } = await import('node:https')
  return new Promise((resolve, reject) => {
    get(url, { ca: readFileSync(pki.caFile, 'utf8') }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        text += chunk
      })
      response.on('end', () => resolve(text))
    }).once('error', reject)
  })
}
