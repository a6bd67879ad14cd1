import { resolve } from 'node:path'
import type { Server as TlsServer } from 'node:tls'
import { readTlsPair, type TlsPair } from '@fedtune/coordinator'
import { CommandError, type CommandIo } from './command-io.ts'

/** `--tls-cert` and `--tls-key`, absolute: read at start and again at every SIGHUP. */
export type TlsFiles = { readonly cert: string; readonly key: string }

export function tlsFilesOf(cert: string | undefined, key: string | undefined): TlsFiles | undefined {
  if (cert === undefined && key === undefined) return undefined
  if (cert === undefined || key === undefined)
    throw new CommandError(
      `--tls-cert and --tls-key: expected both (the certificate and its private key) or neither, got only ${cert === undefined ? '--tls-key' : '--tls-cert'}`,
      2,
    )
  return { cert: resolve(cert), key: resolve(key) }
}

/** `--trust-proxy 127.0.0.1,10.0.0.0/8`: the addresses whose X-Forwarded-* headers are believed. */
export function trustedProxies(text: string): string[] {
  const entries = text.split(',').map((entry) => entry.trim())
  for (const entry of entries)
    if (
      !/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(entry) &&
      !['loopback', 'linklocal', 'uniquelocal'].includes(entry)
    )
      throw new CommandError(
        `--trust-proxy: expected IP addresses or CIDRs separated by commas (e.g. 127.0.0.1,10.0.0.0/8), got ${JSON.stringify(entry)}`,
        2,
      )
  return entries
}

/** The pair read (and checked) again: at start, and at every SIGHUP. */
export function tlsOf(files: TlsFiles | undefined, io: CommandIo): Pick<TlsPair, 'cert' | 'key'> | undefined {
  if (files === undefined) return undefined
  const pair = readTlsPair(files.cert, files.key)
  for (const warning of pair.warnings) io.stdout(`warning: ${warning}\n`)
  io.stdout(`TLS: certificate for ${pair.names.join(', ')}, valid until ${pair.validTo.toISOString()}\n`)
  return { cert: pair.cert, key: pair.key }
}

/** SIGHUP: the renewed certificate and key serve new connections; a pair that does not check keeps the old one. */
export function reloadOnHangup(files: TlsFiles | undefined, server: unknown, io: CommandIo): () => void {
  if (files === undefined) return () => {}
  const reload = () => {
    try {
      const pair = tlsOf(files, io)
      if (pair) (server as TlsServer).setSecureContext({ cert: pair.cert, key: pair.key })
      io.stdout('TLS: certificate and key reloaded\n')
    } catch (error) {
      io.stderr(
        `fedtune coordinator: TLS reload refused, the previous certificate still serves: ${(error as Error).message}\n`,
      )
    }
  }
  process.on('SIGHUP', reload)
  return () => process.off('SIGHUP', reload)
}
