import { escapeText } from '@fedtune/protocol'
import { CommandError } from './command-io.ts'

/*
 * Every number a command line takes, read one way: canonical decimal digits only. No sign, exponent,
 * hex, blank or leading zero, so "1e3", "0x10", " 5" and "08" are refused instead of read as a value
 * the user did not write (Number() would take all four). The one exception is {@link realNumber}, for
 * quantities like δ = 1e-5 that are written in scientific notation. A refusal is a usage error
 * (exit 2) that names the option, what it expected and what arrived, escaped.
 */

const largest = Number.MAX_SAFE_INTEGER

/** A TCP port: 0 (the system picks a free one) to 65535. */
export function portNumber(option: string, text: string): number {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535)
    refuse(option, 'an integer from 0 to 65535', text)
  return Number(text)
}

/** A positive whole number, at most `max`. */
export function positiveInteger(option: string, text: string, max = largest): number {
  const value = /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(value) || value > max)
    refuse(option, max === largest ? 'a positive whole number' : `a whole number from 1 to ${max}`, text)
  return value
}

/** A whole number from 0 to `max` ("0", "20"; not "020", "1e2"). */
export function wholeNumber(
  option: string,
  text: string,
  max: number,
  what = `a whole number from 0 to ${max}`,
): number {
  const value = /^(0|[1-9][0-9]{0,15})$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(value) || value > max) refuse(option, what, text)
  return value
}

/** A positive number of seconds to the millisecond ("10", "0.5", "2.125"), returned in milliseconds. */
export function positiveSeconds(option: string, text: string): number {
  const match = /^(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,3}))?$/.exec(text)
  // Whole seconds and the fraction's digits as integers: 0.001 s is 1 ms exactly, with no float error.
  const ms = match ? Number(match[1]) * 1000 + Number((match[2] ?? '').padEnd(3, '0')) : 0
  if (ms < 1) refuse(option, 'a positive number of seconds (to the millisecond)', text)
  return ms
}

/** A share from 0 up to, not including, 1 ("0", "0.1", "0.25"). */
export function fraction(option: string, text: string): number {
  if (!/^0(\.[0-9]{1,15})?$/.test(text)) refuse(option, 'a number in [0, 1)', text)
  return Number(text)
}

/** A real number in decimal ("0.25", "3") or scientific notation ("1e-5", "2.5E-3"): no sign, blank or hex. */
const REAL = /^(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]{1,3})?$/

/**
 * A real number that `accept` takes, `expected` saying which ("a number in (0, 1)"); refused when it
 * is not written as {@link REAL} says, is not finite ("1e999"), or `accept` refuses it.
 */
export function realNumber(
  option: string,
  text: string,
  expected: string,
  accept: (value: number) => boolean,
): number {
  const value = REAL.test(text) ? Number(text) : Number.NaN
  if (!Number.isFinite(value) || !accept(value)) refuse(option, expected, text)
  return value
}

function refuse(option: string, expected: string, text: string): never {
  throw new CommandError(`${option}: expected ${expected}, got ${escapeText(JSON.stringify(text), 100)}`, 2)
}
