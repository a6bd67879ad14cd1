import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A certificate and its key on disk, as `--tls-cert` and `--tls-key` take them. */
export type TestCertificate = {
  readonly certFile: string
  readonly keyFile: string
  /** The leaf's SHA-256 fingerprint as Node prints it (AB:CD:…). */
  readonly fingerprint: string
}

/** A throwaway CA made with openssl in a temp folder, and the server certificates it signs. */
export type TestPki = {
  readonly dir: string
  /** The CA's certificate, as `--ca` takes it. */
  readonly caFile: string
  /** A certificate for `names` (DNS names and IP addresses) signed by this CA; `days` -1 makes one already expired. */
  issue(label: string, names: readonly string[], days?: number): TestCertificate
  /** Removes the folder. */
  remove(): void
}

function openssl(args: readonly string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer }
    if (e.code === 'ENOENT')
      throw new Error(
        'the TLS tests make their certificates with openssl: install it (apt-get install openssl)',
      )
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`)
  }
}

/** A new CA named `name` (P-256 keys: fast to make), valid for two days. */
export function testPki(name = 'fedtune test CA'): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'fedtune-pki-'))
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  )
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    issue(label, names, days = 1) {
      const san = names.map((n) => (/^[0-9.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',')
      writeFileSync(
        join(dir, `${label}.ext`),
        `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
      )
      openssl(
        ['req', ...ec, '-keyout', `${label}.key`, '-out', `${label}.csr`, '-subj', `/CN=${names[0]}`],
        dir,
      )
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${label}.csr`,
          '-CA',
          'ca.pem',
          '-CAkey',
          'ca.key',
          '-CAcreateserial',
          '-out',
          `${label}.pem`,
          '-days',
          String(days),
          '-extfile',
          `${label}.ext`,
        ],
        dir,
      )
      const certFile = join(dir, `${label}.pem`)
      return {
        certFile,
        keyFile: join(dir, `${label}.key`),
        fingerprint: new X509Certificate(readFileSync(certFile)).fingerprint256,
      }
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}
