import { readFileSync } from 'node:fs'

/**
 * Where Linux distributions keep the system's CA bundle, the one a hospital's IT adds its own CA to
 * (update-ca-certificates, update-ca-trust): Debian and Ubuntu, Fedora and RHEL, SUSE, Alpine.
 */
export const SYSTEM_CA_FILES: readonly string[] = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
  '/etc/ssl/cert.pem',
]

/**
 * The first of `files` that holds PEM certificates, read; undefined when none does (Node 20 has no
 * API for the operating system's store, so its bundle file is read as `--use-openssl-ca` would).
 */
export function systemCaBundle(
  files: readonly string[] = SYSTEM_CA_FILES,
): { readonly file: string; readonly pem: string } | undefined {
  for (const file of files) {
    let pem: string
    try {
      pem = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    if (pem.includes('-----BEGIN CERTIFICATE-----')) return { file, pem }
  }
  return undefined
}
