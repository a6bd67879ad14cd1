import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'

/** The coordinator's certificate (with its chain) and private key, as PEM text: fastify's `https` option. */
export type TlsPair = {
  readonly cert: string
  readonly key: string
  /** The names the leaf certificate is for (its subjectAltName, else its CN), for the operator. */
  readonly names: readonly string[]
  /** When the leaf certificate expires. */
  readonly validTo: Date
  /** What the operator should know but that does not stop the coordinator (an expired certificate). */
  readonly warnings: readonly string[]
}

/** A certificate or key the coordinator cannot serve: unreadable, not PEM, or not a pair. */
export class TlsPairError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TlsPairError'
  }
}

/**
 * Reads and checks `--tls-cert` and `--tls-key` before the port opens: both readable, PEM, and the
 * key the one the certificate's public key belongs to. An expired (or not yet valid) certificate is
 * served with a warning: browsers and clients will refuse it and say so, and the operator may be
 * about to replace it (SIGHUP reloads the pair).
 */
export function readTlsPair(certFile: string, keyFile: string, now: Date = new Date()): TlsPair {
  const cert = readPem('--tls-cert', certFile, 'CERTIFICATE')
  const key = readPem('--tls-key', keyFile, 'PRIVATE KEY')
  let leaf: X509Certificate
  try {
    leaf = new X509Certificate(cert)
  } catch (error) {
    throw new TlsPairError(`--tls-cert ${certFile}: not a readable certificate (${(error as Error).message})`)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(key)
  } catch (error) {
    throw new TlsPairError(
      `--tls-key ${keyFile}: not a readable private key (${(error as Error).message}); an encrypted key must be decrypted first`,
    )
  }
  if (!leaf.checkPrivateKey(privateKey))
    throw new TlsPairError(
      `--tls-key ${keyFile} is not the key of the certificate in --tls-cert ${certFile} (for ${certificateNames(leaf).join(', ')}): expected the private key the certificate was issued for`,
    )
  const validTo = new Date(leaf.validTo)
  const validFrom = new Date(leaf.validFrom)
  const warnings: string[] = []
  if (validTo.getTime() < now.getTime())
    warnings.push(
      `the certificate in ${certFile} expired on ${validTo.toISOString()}: clients will refuse it until it is replaced (SIGHUP reloads --tls-cert and --tls-key)`,
    )
  else if (validFrom.getTime() > now.getTime())
    warnings.push(
      `the certificate in ${certFile} is valid only from ${validFrom.toISOString()}: clients will refuse it until then`,
    )
  return { cert, key, names: certificateNames(leaf), validTo, warnings }
}

/** The DNS names and IP addresses a certificate is for: its subjectAltName, else its subject's CN. */
export function certificateNames(cert: X509Certificate): string[] {
  const alt = cert.subjectAltName
  if (alt !== undefined && alt !== '')
    return alt
      .split(', ')
      .map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
      .filter((name) => name !== '')
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1]
  return cn === undefined ? [] : [cn]
}

function readPem(flag: string, file: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): string {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new TlsPairError(
      `${flag}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    )
  }
  // "-----BEGIN PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----"
  const begin =
    kind === 'CERTIFICATE' ? /-----BEGIN CERTIFICATE-----/ : /-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/
  if (!begin.test(text))
    throw new TlsPairError(
      `${flag} ${file}: expected a PEM ${kind === 'CERTIFICATE' ? 'certificate ("-----BEGIN CERTIFICATE-----")' : 'private key ("-----BEGIN PRIVATE KEY-----")'}, got ${text.length === 0 ? 'an empty file' : `a file starting ${JSON.stringify(text.slice(0, 30))}`}`,
    )
  if (kind === 'PRIVATE KEY' && /ENCRYPTED PRIVATE KEY/.test(text))
    throw new TlsPairError(
      `${flag} ${file}: the private key is encrypted; the coordinator reads an unencrypted key (openssl pkey -in ${file} -out <file>), kept readable only by its user`,
    )
  return text
}
