import { readFileSync } from 'node:fs'
import { type MetricsAddress, metricsTokenProblem } from '@fedtune/coordinator/metrics'
import { escapeText } from '@fedtune/protocol'
import { CommandError } from './command-io.ts'
import { portNumber } from './numbers.ts'

/** `--metrics-address host:port` (an IPv6 host in brackets: `[::1]:9464`). */
export function metricsAddress(option: string, text: string): MetricsAddress {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]+)$/.exec(text)
  if (match === null)
    throw new CommandError(
      `${option}: expected host:port (127.0.0.1:9464, [::1]:9464), got ${JSON.stringify(escapeText(text, 200))}`,
    )
  const [, host, port] = match as unknown as [string, string, string]
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: portNumber(option, port) }
}

/** `--metrics-token-file <file>`: the token is the file's text without its surrounding whitespace. */
export function metricsTokenFrom(option: string, file: string): string {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new CommandError(`${option}: cannot read ${escapeText(file)}: ${(error as Error).message}`)
  }
  const token = text.trim()
  const problem = metricsTokenProblem(token)
  if (problem !== null) throw new CommandError(`${option}: ${escapeText(file)}: ${problem}`)
  return token
}
