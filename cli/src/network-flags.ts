import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { type Connection, connectionTo, NetworkSettingsError, parsePin } from '@fedtune/client-node'
import { CommandError } from './command-io.ts'

/** `--ca`, `--pin-sha256` and `--proxy` as the command line gave them. */
export type NetworkFlags = {
  readonly ca?: string | undefined
  readonly 'pin-sha256'?: string | undefined
  readonly proxy?: string | undefined
}

/**
 * The client's connection to `coordinatorUrl` (client-node/src/connection.ts) from its flags and
 * the environment's *_PROXY variables; a flag that cannot be used is a wrong command line (status 2).
 */
export function connectionOf(
  flags: NetworkFlags,
  coordinatorUrl: string,
  env: NodeJS.ProcessEnv,
): Connection {
  try {
    return connectionTo(
      coordinatorUrl,
      {
        ca: flags.ca === undefined ? undefined : readCa(flags.ca),
        pinSha256: flags['pin-sha256'] === undefined ? undefined : parsePin(flags['pin-sha256']),
        proxy: flags.proxy,
      },
      env,
    )
  } catch (error) {
    if (error instanceof NetworkSettingsError || error instanceof CommandError)
      throw new CommandError(error.message, 2)
    throw error
  }
}

function readCa(file: string): { file: string; pem: string } {
  const path = resolve(file)
  let pem: string
  try {
    pem = readFileSync(path, 'utf8')
  } catch (error) {
    throw new CommandError(
      `--ca: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      2,
    )
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new CommandError(
      `--ca ${path}: expected one or more PEM certificates ("-----BEGIN CERTIFICATE-----"), got ${pem.length === 0 ? 'an empty file' : `a file starting ${JSON.stringify(pem.slice(0, 30))}`}`,
      2,
    )
  return { file: path, pem }
}
