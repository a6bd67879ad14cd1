import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import {
  type Connection,
  ConnectionError,
  connectionTo,
  parsePin,
  proxyFor,
  stopsAt,
  systemCaBundle,
} from '@fedtune/client-node'
import { concatBytes } from '@fedtune/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { challengeOf, connectTo, startTestCoordinator, type TestCoordinator } from '../harness.ts'
import { freePort } from '../net/local-process.ts'
import { type TestCertificate, type TestPki, testPki } from '../net/test-pki.ts'
import { startTinyproxy, type Tinyproxy } from '../net/tinyproxy.ts'

/**
 * The hospital client's connection (client-node/src/connection.ts) against a real coordinator
 * serving HTTPS and WSS with a certificate from a CA made here with openssl: the websocket and the
 * backbone download share one trust and one proxy, and every refusal says what did not match.
 */
let pki: TestPki
let localhost: TestCertificate
let elsewhere: TestCertificate
let proxy: Tinyproxy
let coordinator: TestCoordinator
let port: number

beforeAll(async () => {
  pki = testPki()
  localhost = pki.issue('localhost', ['localhost', '127.0.0.1'])
  elsewhere = pki.issue('elsewhere', ['coordinator.example.org'])
  coordinator = await startTestCoordinator({ https: pemOf(localhost) })
  port = Number(new URL(coordinator.url).port)
  proxy = await startTinyproxy([port])
})
afterAll(async () => {
  await coordinator?.close()
  await proxy?.stop()
  pki?.remove()
})

const pemOf = (c: TestCertificate) => ({
  cert: readFileSync(c.certFile, 'utf8'),
  key: readFileSync(c.keyFile, 'utf8'),
})
const ca = () => ({ file: pki.caFile, pem: readFileSync(pki.caFile, 'utf8') })

/** The challenge through `connection`'s socket options, or the ConnectionError its connect_error carries. */
async function handshake(
  target: { url: string },
  connection: Connection,
): Promise<{ challenged: true } | { failure: ConnectionError | null; message: string }> {
  const socket = connectTo(
    { url: target.url, sockets: coordinator.sockets, enrol: coordinator.enrol },
    'packed',
    connection.socketOptions,
  )
  try {
    return await new Promise((resolve) => {
      void challengeOf(socket).then(() => resolve({ challenged: true }))
      socket.once('connect_error', (error) =>
        resolve({ failure: connection.failureOf(error), message: error.message }),
      )
    })
  } finally {
    socket.disconnect()
  }
}

async function download(connection: Connection, url: string): Promise<string> {
  const response = await connection.fetch(url)
  expect(response.status).toBe(200)
  const chunks: Uint8Array[] = []
  for await (const chunk of response.body ?? []) chunks.push(chunk)
  return new TextDecoder().decode(concatBytes(...chunks))
}

const backboneUrl = () => `${coordinator.url}/backbone/${coordinator.digest}/model.json`

describe('a coordinator whose certificate a CA file vouches for', () => {
  it('serves the websocket over WSS and the backbone over HTTPS to a client given --ca', async () => {
    expect(coordinator.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const connection = connectionTo(coordinator.url, { ca: ca() }, {})
    expect(connection.trust).toBe(`the CA file ${pki.caFile}`)
    expect(await handshake(coordinator, connection)).toEqual({ challenged: true })
    expect(await download(connection, backboneUrl())).toBe('{"format":"layers-model"}')
  })

  it("is refused by a client on Node's built-in CA list, which says so and suggests --ca", async () => {
    const connection = connectionTo(coordinator.url, { systemCaFiles: [] }, {})
    const outcome = await handshake(coordinator, connection)
    expect(outcome).toMatchObject({ failure: { code: 'untrusted', untrustedCoordinator: true } })
    expect((outcome as { failure: Error }).failure.message).toBe(
      "the coordinator's certificate is not signed by a CA in Node's built-in CA list (NODE_EXTRA_CA_CERTS adds to it) (UNABLE_TO_VERIFY_LEAF_SIGNATURE); pass --ca <file> with the CA that issued it",
    )
    // the download refuses the same certificate with the same words
    await expect(connection.fetch(backboneUrl())).rejects.toThrow(
      /not signed by a CA in Node's built-in CA list/,
    )
  })

  it('is trusted without --ca once its CA is in the system bundle, where a hospital IT puts it; a bundle file missing is passed over', async () => {
    const connection = connectionTo(
      coordinator.url,
      { systemCaFiles: [join(pki.dir, 'no-such-bundle.crt'), pki.caFile] },
      {},
    )
    expect(connection.trust).toBe(
      `Node's built-in CA list and the system's ${pki.caFile} (NODE_EXTRA_CA_CERTS adds to them)`,
    )
    expect(await handshake(coordinator, connection)).toEqual({ challenged: true })
    expect(await download(connection, backboneUrl())).toBe('{"format":"layers-model"}')
    expect(systemCaBundle([join(pki.dir, 'no-such-bundle.crt')])).toBeUndefined()
    // the default list holds Debian's bundle on this machine, whose CAs do not include the test's
    expect(systemCaBundle()?.file).toBe('/etc/ssl/certs/ca-certificates.crt')
    const system = connectionTo(coordinator.url, {}, {})
    expect(((await handshake(coordinator, system)) as { failure: Error }).failure.message).toBe(
      "the coordinator's certificate is not signed by a CA in Node's built-in CA list and the system's /etc/ssl/certs/ca-certificates.crt (NODE_EXTRA_CA_CERTS adds to them) (UNABLE_TO_VERIFY_LEAF_SIGNATURE); pass --ca <file> with the CA that issued it",
    )
  })

  it('a pinned fingerprint that matches lets the client in; another is refused with both fingerprints', async () => {
    const pinned = connectionTo(coordinator.url, { ca: ca(), pinSha256: parsePin(localhost.fingerprint) }, {})
    expect(await handshake(coordinator, pinned)).toEqual({ challenged: true })
    const other = parsePin(elsewhere.fingerprint.replace(/:/g, '').toLowerCase())
    const wrong = connectionTo(coordinator.url, { ca: ca(), pinSha256: other }, {})
    const outcome = await handshake(coordinator, wrong)
    expect(outcome).toMatchObject({ failure: { code: 'pin-mismatch' } })
    expect((outcome as { failure: Error }).failure.message).toBe(
      `the coordinator's certificate has SHA-256 fingerprint ${localhost.fingerprint}, not the pinned ${elsewhere.fingerprint}: if its operator renewed the certificate, confirm the new fingerprint with them and pass it to --pin-sha256`,
    )
    await expect(wrong.fetch(backboneUrl())).rejects.toThrow(`not the pinned ${elsewhere.fingerprint}`)
  })

  it('a download from another origin than the coordinator’s is refused', async () => {
    const connection = connectionTo(coordinator.url, { ca: ca() }, {})
    await expect(connection.fetch('https://127.0.0.2:1/backbone/x')).rejects.toThrow(
      `expected a URL on the coordinator's origin ${coordinator.url}, got https://127.0.0.2:1`,
    )
  })
})

describe('a certificate for another name', () => {
  it('is refused with the names it is for and the name the client asked for', async () => {
    const other = await startTestCoordinator({ https: pemOf(elsewhere) })
    const connection = connectionTo(other.url, { ca: ca() }, {})
    const outcome = await handshake(other, connection)
    expect(outcome).toMatchObject({ failure: { code: 'name-mismatch', untrustedCoordinator: true } })
    expect((outcome as { failure: Error }).failure.message).toBe(
      "the coordinator's certificate is for coordinator.example.org, not 127.0.0.1: connect by one of those names, or have its operator issue a certificate for 127.0.0.1",
    )
  })
})

describe('an expired certificate', () => {
  it('is refused as expired, for its operator to renew', async () => {
    const expired = pki.issue('expired', ['127.0.0.1'], -1)
    const other = await startTestCoordinator({ https: pemOf(expired) })
    const connection = connectionTo(other.url, { ca: ca() }, {})
    const outcome = await handshake(other, connection)
    expect(outcome).toMatchObject({
      failure: {
        code: 'expired',
        message: "the coordinator's certificate is expired (CERT_HAS_EXPIRED); its operator must renew it",
      },
    })
  })
})

describe('through an HTTP proxy (tinyproxy)', () => {
  it('the websocket and the backbone download both go through its CONNECT tunnel, TLS end to end', async () => {
    const before = tunnels()
    const connection = connectionTo(coordinator.url, { ca: ca(), proxy: proxy.url }, {})
    expect(connection.proxy).toBe(proxy.url)
    expect(await handshake(coordinator, connection)).toEqual({ challenged: true })
    expect(tunnels()).toBe(before + 1)
    expect(await download(connection, backboneUrl())).toBe('{"format":"layers-model"}')
    expect(tunnels()).toBe(before + 2)
  })

  it('HTTPS_PROXY is used unless NO_PROXY names the coordinator', async () => {
    const before = tunnels()
    const viaEnv = connectionTo(coordinator.url, { ca: ca() }, { HTTPS_PROXY: proxy.url })
    expect(await download(viaEnv, backboneUrl())).toBe('{"format":"layers-model"}')
    expect(tunnels()).toBe(before + 1)
    const bypassing = connectionTo(
      coordinator.url,
      { ca: ca() },
      { HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' },
    )
    expect(bypassing.proxy).toBeNull()
    expect(await download(bypassing, backboneUrl())).toBe('{"format":"layers-model"}')
    expect(tunnels()).toBe(before + 1)
  })

  it('a plain http:// coordinator goes through HTTP_PROXY by the same tunnel', async () => {
    const plain = await startTestCoordinator()
    const plainPort = Number(new URL(plain.url).port)
    const own = await startTinyproxy([plainPort])
    try {
      const connection = connectionTo(
        plain.url,
        {},
        { HTTP_PROXY: own.url, HTTPS_PROXY: 'http://127.0.0.1:9' },
      )
      expect(connection.proxy).toBe(own.url)
      expect(await handshake(plain, connection)).toEqual({ challenged: true })
      expect(await download(connection, `${plain.url}/backbone/${plain.digest}/model.json`)).toBe(
        '{"format":"layers-model"}',
      )
      const logged = own
        .log()
        .split('\n')
        .filter((l) => l.includes(`CONNECT 127.0.0.1:${plainPort} HTTP/1.1`))
      expect(logged).toHaveLength(2)
    } finally {
      await own.stop()
    }
  })

  it('a tunnel the proxy refuses names the proxy, without its credentials, and its status', async () => {
    // tinyproxy allows CONNECT to the coordinator's port alone: any other gets 403
    const elsewhereUrl = `https://127.0.0.1:${port === 1 ? 2 : port - 1}`
    const withCredentials = proxy.url.replace('http://', 'http://hospital:s3cret@')
    const connection = connectionTo(elsewhereUrl, { ca: ca(), proxy: withCredentials }, {})
    const outcome = await handshake({ url: elsewhereUrl }, connection)
    expect(outcome).toMatchObject({ failure: { code: 'proxy-refused', status: 403 } })
    const message = (outcome as { failure: Error }).failure.message
    expect(message).toBe(
      `the proxy ${proxy.url} refused the tunnel to 127.0.0.1:${port === 1 ? 2 : port - 1}: 403 Access violation`,
    )
    expect(message).not.toContain('s3cret')
    await expect(connection.fetch(`${elsewhereUrl}/x`)).rejects.toThrow(/refused the tunnel .*: 403/)
  })

  it('a proxy nobody listens on is named with the reason', async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`
    const connection = connectionTo(coordinator.url, { ca: ca(), proxy: nowhere }, {})
    const outcome = await handshake(coordinator, connection)
    expect(outcome).toMatchObject({
      failure: { code: 'proxy-unreachable', message: `cannot reach the proxy ${nowhere} (ECONNREFUSED)` },
    })
  })
})

describe('what ends the client, and what it retries', () => {
  it('an untrusted coordinator and a proxy refusing for a reason of its own end it; a proxy that cannot reach the coordinator is retried', () => {
    for (const code of ['name-mismatch', 'untrusted', 'expired', 'pin-mismatch', 'tls'] as const)
      expect(stopsAt(new ConnectionError(code, ''), true)).toBe(true)
    expect(stopsAt(new ConnectionError('proxy-refused', '', 403), true)).toBe(true)
    expect(stopsAt(new ConnectionError('proxy-refused', '', 407), false)).toBe(true)
    expect(stopsAt(new ConnectionError('proxy-refused', '', 502), false)).toBe(false)
    // a wrong --proxy ends it before its first join; a proxy lost mid-run is waited for
    expect(stopsAt(new ConnectionError('proxy-unreachable', ''), false)).toBe(true)
    expect(stopsAt(new ConnectionError('proxy-unreachable', ''), true)).toBe(false)
  })

  it('`fedtune client` whose proxy refuses the tunnel: status 1 and one line naming the proxy and its status', async () => {
    const repo = fileURLToPath(new URL('../../', import.meta.url))
    const refusedPort = port === 1 ? 2 : port - 1
    const failed = await promisify(execFile)(
      process.execPath,
      [
        join(repo, 'cli', 'bin', 'fedtune.js'),
        'client',
        '--coordinator',
        `https://127.0.0.1:${refusedPort}`,
        '--data',
        pki.dir,
        '--cache',
        join(pki.dir, 'cache'),
        '--ca',
        pki.caFile,
        '--proxy',
        proxy.url,
      ],
      { cwd: repo, timeout: 30_000 },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    )
    expect(failed.code).toBe(1)
    expect(failed.stderr).toBe(
      `fedtune client: the proxy ${proxy.url} refused the tunnel to 127.0.0.1:${refusedPort}: 403 Access violation\n`,
    )
  }, 30_000)
})

describe('the settings, read before any connection', () => {
  it('a pin is 64 hex digits, bare or in colon-separated pairs, compared as Node prints fingerprints', () => {
    const hex = 'ab'.repeat(32)
    expect(parsePin(hex)).toBe(Array(32).fill('AB').join(':'))
    expect(parsePin(Array(32).fill('ab').join(':'))).toBe(Array(32).fill('AB').join(':'))
    expect(() => parsePin('ab'.repeat(31))).toThrow(
      /--pin-sha256: expected the certificate's SHA-256 as 64 hex digits/,
    )
    expect(() => parsePin(`${'ab'.repeat(31)}:ab`)).toThrow(/got "abab/)
  })

  it('--ca or --pin-sha256 with a plain http:// coordinator is refused: there is no certificate to check', () => {
    expect(() => connectionTo('http://127.0.0.1:8080', { ca: ca() }, {})).toThrow(
      '--ca: the coordinator http://127.0.0.1:8080 is plain http://, which has no certificate to verify; use its https:// URL',
    )
    expect(() => connectionTo('http://127.0.0.1:8080', { pinSha256: parsePin('ab'.repeat(32)) }, {})).toThrow(
      /^--pin-sha256: the coordinator/,
    )
  })

  it('the proxy: --proxy over the environment, HTTPS_PROXY for https:// and HTTP_PROXY for http://, NO_PROXY by host', () => {
    const https = new URL('https://coordinator.example.org')
    const http = new URL('http://coordinator.example.org:8080')
    const env = { HTTPS_PROXY: 'http://secure:3128', http_proxy: 'http://plain:3128' }
    expect(proxyFor(https, undefined, env)?.host).toBe('secure:3128')
    expect(proxyFor(http, undefined, env)?.host).toBe('plain:3128')
    expect(proxyFor(https, 'http://given:8080', env)?.host).toBe('given:8080')
    expect(proxyFor(https, undefined, {})).toBeNull()
    for (const noProxy of [
      '*',
      'example.org',
      '.example.org',
      'coordinator.example.org:443',
      'a, example.org',
    ])
      expect(proxyFor(https, undefined, { ...env, NO_PROXY: noProxy })).toBeNull()
    for (const noProxy of ['example.com', 'ample.org', 'coordinator.example.org:8443'])
      expect(proxyFor(https, undefined, { ...env, no_proxy: noProxy })?.host).toBe('secure:3128')
    expect(() => proxyFor(https, 'socks5://proxy:1080', {})).toThrow(
      '--proxy: expected an http:// or https:// proxy (one that speaks HTTP CONNECT), got socks5://proxy:1080',
    )
    expect(() => proxyFor(https, undefined, { HTTPS_PROXY: 'not a url' })).toThrow(
      /^HTTPS_PROXY: expected a proxy URL/,
    )
  })
})

/** The CONNECT requests tinyproxy logged to the coordinator's port. */
function tunnels(): number {
  return proxy
    .log()
    .split('\n')
    .filter((line) => line.includes(`CONNECT 127.0.0.1:${port} HTTP/1.1`)).length
}
