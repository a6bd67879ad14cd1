import { escapeText } from '@fedtune/protocol'
import { CommandError } from './command-io.ts'

/** A command line's positive integer: canonical decimal digits only, within `max`; else a usage error. */
export function positiveInteger(option: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(value) || value > max)
    throw new CommandError(
      `expected ${option} to be a whole number from 1 to ${max}, got ${escapeText(JSON.stringify(text), 100)}`,
      2,
    )
  return value
}
