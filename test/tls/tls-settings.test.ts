import type { X509Certificate } from 'node:crypto'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
import { readTlsPair } from '@fedtune/coordinator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runClientCommand } from '../../cli/src/client-command.ts'
import { runCoordinatorCommand } from '../../cli/src/coordinator-command.ts'
import { reloadOnHangup } from '../../cli/src/tls-flags.ts'
import { testIo } from '../cli/test-io.ts'
import { type TestCertificate, type TestPki, testPki } from '../net/test-pki.ts'

/**
 * What the coordinator checks of --tls-cert and --tls-key before its port opens, SIGHUP's reload,
 * and the command-line refusals of both commands' TLS and proxy flags (status 2, before anything
 * connects).
 */
let pki: TestPki
let first: TestCertificate
let second: TestCertificate
let work: string

beforeAll(() => {
  pki = testPki()
  first = pki.issue('first', ['coordinator.example.org', '127.0.0.1'])
  second = pki.issue('second', ['localhost'])
  work = mkdtempSync(join(tmpdir(), 'fedtune-tls-settings-'))
})
afterAll(() => {
  pki?.remove()
  rmSync(work, { recursive: true, force: true })
})

describe('the coordinator’s certificate and key, read at start', () => {
  it('a matching pair: its names and expiry, no warning', () => {
    const pair = readTlsPair(first.certFile, first.keyFile)
    expect(pair.names).toEqual(['coordinator.example.org', '127.0.0.1'])
    expect(pair.validTo.getTime()).toBeGreaterThan(Date.now())
    expect(pair.warnings).toEqual([])
  })

  it('an expired certificate still serves, with a warning that says when it expired', () => {
    const pair = readTlsPair(first.certFile, first.keyFile)
    const later = new Date(pair.validTo.getTime() + 86_400_000)
    expect(readTlsPair(first.certFile, first.keyFile, later).warnings).toEqual([
      `the certificate in ${first.certFile} expired on ${pair.validTo.toISOString()}: clients will refuse it until it is replaced (SIGHUP reloads --tls-cert and --tls-key)`,
    ])
  })

  it('refuses an unreadable file, a file that is not PEM, an encrypted key, and a key of another certificate', () => {
    const missing = join(work, 'missing.pem')
    expect(() => readTlsPair(missing, first.keyFile)).toThrow(`--tls-cert: cannot read ${missing} (ENOENT)`)
    const notPem = join(work, 'cert.der')
    writeFileSync(notPem, 'binary stuff')
    expect(() => readTlsPair(notPem, first.keyFile)).toThrow(
      `--tls-cert ${notPem}: expected a PEM certificate ("-----BEGIN CERTIFICATE-----"), got a file starting "binary stuff"`,
    )
    expect(() => readTlsPair(first.certFile, first.certFile)).toThrow(
      /--tls-key .*first\.pem: expected a PEM private key \("-----BEGIN PRIVATE KEY-----"\)/,
    )
    const encrypted = join(work, 'encrypted.key')
    writeFileSync(
      encrypted,
      '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n',
    )
    expect(() => readTlsPair(first.certFile, encrypted)).toThrow(/the private key is encrypted/)
    expect(() => readTlsPair(first.certFile, second.keyFile)).toThrow(
      `--tls-key ${second.keyFile} is not the key of the certificate in --tls-cert ${first.certFile} (for coordinator.example.org, 127.0.0.1): expected the private key the certificate was issued for`,
    )
  })

  it('`fedtune coordinator` refuses half a pair or a --trust-proxy that is no address (2), and an unreadable pair before it opens anything (1)', async () => {
    const half = testIo()
    expect(await runCoordinatorCommand(['--tls-cert', first.certFile], half.io)).toBe(2)
    expect(half.stderr()).toBe(
      'fedtune coordinator: --tls-cert and --tls-key: expected both (the certificate and its private key) or neither, got only --tls-cert\n',
    )
    const proxy = testIo()
    expect(await runCoordinatorCommand(['--trust-proxy', '127.0.0.1,proxy.example'], proxy.io)).toBe(2)
    expect(proxy.stderr()).toContain('--trust-proxy: expected IP addresses or CIDRs separated by commas')
    const mismatch = testIo()
    expect(
      await runCoordinatorCommand(
        ['--tls-cert', first.certFile, '--tls-key', second.keyFile, '--data', join(work, 'never')],
        mismatch.io,
      ),
    ).toBe(1)
    expect(mismatch.stderr()).toMatch(/^fedtune coordinator: --tls-key .* is not the key of the certificate/)
  })
})

describe('SIGHUP', () => {
  let server: Server
  afterAll(() => server?.close())

  it('serves the renewed pair to new connections; a broken one is refused and the old pair keeps serving', async () => {
    const cert = join(work, 'live.pem')
    const key = join(work, 'live.key')
    copyFileSync(first.certFile, cert)
    copyFileSync(first.keyFile, key)
    server = createServer({ cert: readFileSync(cert), key: readFileSync(key) })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    const t = testIo()
    const stop = reloadOnHangup({ cert, key }, server, t.io)
    try {
      expect(await servedFingerprint(port)).toBe(first.fingerprint)
      copyFileSync(second.certFile, cert)
      copyFileSync(second.keyFile, key)
      process.emit('SIGHUP', 'SIGHUP')
      expect(t.stdout()).toContain('TLS: certificate and key reloaded\n')
      expect(await servedFingerprint(port)).toBe(second.fingerprint)
      copyFileSync(first.certFile, cert) // the key still is the second's
      process.emit('SIGHUP', 'SIGHUP')
      expect(t.stderr()).toMatch(
        /^fedtune coordinator: TLS reload refused, the previous certificate still serves: --tls-key .* is not the key/,
      )
      expect(await servedFingerprint(port)).toBe(second.fingerprint)
    } finally {
      stop()
    }
  })
})

describe('`fedtune client` refuses TLS and proxy flags it cannot use, before it connects', () => {
  it.each([
    [
      ['--coordinator', 'http://127.0.0.1:9', '--ca', 'CA'],
      '--ca: the coordinator http://127.0.0.1:9 is plain http://, which has no certificate to verify; use its https:// URL',
    ],
    [
      ['--coordinator', 'https://127.0.0.1:9', '--pin-sha256', 'abc'],
      "--pin-sha256: expected the certificate's SHA-256",
    ],
    [['--coordinator', 'https://127.0.0.1:9', '--ca', 'MISSING'], '--ca: cannot read '],
    [['--coordinator', 'https://127.0.0.1:9', '--ca', 'NOT-PEM'], 'expected one or more PEM certificates'],
    [
      ['--coordinator', 'https://127.0.0.1:9', '--proxy', 'socks5://user:pw@proxy:1080'],
      '--proxy: expected an http:// or https:// proxy (one that speaks HTTP CONNECT), got socks5://proxy:1080',
    ],
  ])('%j: status 2 and what was expected', async (argv, message) => {
    writeFileSync(join(work, 'not-pem'), 'hello')
    const args = argv.map((a) =>
      a === 'CA'
        ? pki.caFile
        : a === 'MISSING'
          ? join(work, 'missing-ca.pem')
          : a === 'NOT-PEM'
            ? join(work, 'not-pem')
            : a,
    )
    const t = testIo()
    expect(await runClientCommand([...args, '--data', work], t.io)).toBe(2)
    expect(t.stderr()).toMatch(/^fedtune client: .*\n$/)
    expect(t.stderr()).toContain(message)
    expect(t.stderr()).not.toContain(':pw@')
  })
})

/** The SHA-256 fingerprint of the certificate a TLS server on `port` presents now. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
      const der = socket.getPeerX509Certificate() as X509Certificate
      socket.destroy()
      resolve(der.fingerprint256)
    })
    socket.once('error', reject)
  })
}
