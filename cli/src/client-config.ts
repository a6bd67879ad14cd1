import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { escapeText } from '@fedtune/protocol'
import { CommandError } from './command-io.ts'

/**
 * One option of a command, as `node:util` parseArgs reads it, and what a config file may do with it:
 * `path`, a file or folder (in a config file, relative to the file's folder); `notInFile`, why the
 * option is for the command line only (or the environment), said when a file names it.
 */
export type OptionSpec = {
  readonly type: 'string' | 'boolean'
  readonly short?: string
  readonly multiple?: boolean
  readonly path?: boolean
  readonly notInFile?: string
}

export type OptionTable = Readonly<Record<string, OptionSpec>>

/** Option values as parseArgs gives them. */
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>

/**
 * The options of a config file for `table`, read from `file`: a JSON object whose keys are the
 * long option names and whose values are what the command line would say (a string, or a number
 * for an option that takes one; true or false for a flag; a list for an option given several
 * times). Every problem is collected and refused at once, each with its key and what was expected.
 */
export function readConfigFile(file: string, table: OptionTable): OptionValues {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new CommandError(
      `--config: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      2,
    )
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new CommandError(`--config ${file}: expected JSON, ${(error as Error).message}`, 2)
  }
  return configValues(json, dirname(resolve(file)), table, file)
}

/** The pure part of `readConfigFile`: `json` checked against `table`, paths resolved from `folder`. */
export function configValues(json: unknown, folder: string, table: OptionTable, file: string): OptionValues {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new CommandError(
      `--config ${file}: expected a JSON object of options (keys are the long option names, e.g. {"coordinator": "https://…", "data": "images"}), got ${Array.isArray(json) ? 'a list' : json === null ? 'null' : typeof json}`,
      2,
    )
  const problems: string[] = []
  const values: OptionValues = {}
  for (const [key, raw] of Object.entries(json)) {
    const name = escapeText(JSON.stringify(key), 80)
    const spec = Object.hasOwn(table, key) ? table[key] : undefined
    if (spec === undefined) {
      problems.push(`${name}: not an option; expected one of ${fileKeys(table).join(', ')}`)
      continue
    }
    if (spec.notInFile !== undefined) {
      problems.push(`${name}: ${spec.notInFile}`)
      continue
    }
    const one = (v: unknown): string | boolean | undefined => {
      if (spec.type === 'boolean') return typeof v === 'boolean' ? v : undefined
      if (typeof v === 'string') return spec.path && v !== '' ? resolve(folder, v) : v
      // A number is written as the command line would write it, then checked there like any other.
      if (typeof v === 'number' && Number.isFinite(v)) return String(v)
      return undefined
    }
    const expected =
      spec.type === 'boolean'
        ? 'true or false'
        : `a ${spec.path ? 'path (relative to the file’s folder)' : 'string or number'}`
    if (spec.multiple) {
      const list = Array.isArray(raw) ? raw.map(one) : undefined
      if (list === undefined || list.some((v) => v === undefined))
        problems.push(`${name}: expected a list, each ${expected}, got ${describe(raw)}`)
      else values[key] = list as (string | boolean)[]
      continue
    }
    const value = one(raw)
    if (value === undefined) problems.push(`${name}: expected ${expected}, got ${describe(raw)}`)
    // false is a flag not given: the command line has no way to say it either
    else if (value !== false) values[key] = value
  }
  if (problems.length > 0)
    throw new CommandError(
      `--config ${file}: ${problems.length === 1 ? 'a problem' : `${problems.length} problems`}:\n  ${problems.join('\n  ')}`,
      2,
    )
  return values
}

/**
 * The command line over the config file: an option given on the command line wins, whole (a list
 * given there replaces the file's list).
 */
export function mergeOptions(file: OptionValues, commandLine: OptionValues): OptionValues {
  const merged: OptionValues = { ...file }
  for (const [key, value] of Object.entries(commandLine)) if (value !== undefined) merged[key] = value
  return merged
}

/** The keys a config file may hold. */
export function fileKeys(table: OptionTable): string[] {
  return Object.entries(table)
    .filter(([, spec]) => spec.notInFile === undefined)
    .map(([key]) => key)
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'an object'
  return `${typeof v} ${escapeText(JSON.stringify(v), 60)}`
}
