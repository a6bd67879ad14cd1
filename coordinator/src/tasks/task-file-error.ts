import { describe, escapeText } from '@fedtune/protocol'
import type { z } from 'zod'

/** One mistake in a task file: the field's path (`training.rounds`), what was expected, what was found. */
export type TaskFileProblem = { readonly path: string; readonly expected: string; readonly found: string }

/** The most problems one error carries; a file of ten thousand unknown fields is not ten thousand lines. */
export const MAX_PROBLEMS = 100
/** The most problems the message lists, one a line; `problems` has the rest. */
const MAX_LISTED = 20

/**
 * A task file refused, with every problem found in it at once: the message lists them for a
 * terminal, `problems` keeps them for the HTTP API's JSON.
 */
export class TaskFileError extends Error {
  readonly problems: readonly TaskFileProblem[]

  constructor(where: string, problems: readonly TaskFileProblem[]) {
    super(messageOf(where, problems))
    this.name = 'TaskFileError'
    this.problems = problems.slice(0, MAX_PROBLEMS)
  }
}

function messageOf(where: string, problems: readonly TaskFileProblem[]): string {
  const line = (p: TaskFileProblem) =>
    `${p.path === '' ? '' : `${p.path}: `}expected ${p.expected}, got ${p.found}`
  const [only] = problems
  if (problems.length === 1 && only !== undefined) return `${where}: ${line(only)}`
  const listed = problems.slice(0, MAX_LISTED).map((p) => `\n  ${line(p)}`)
  const more = problems.length > MAX_LISTED ? `\n  … and ${problems.length - MAX_LISTED} more` : ''
  return `${where}: ${problems.length} problems${listed.join('')}${more}`
}

/**
 * zod's issues in fedtune's words. Each issue's message is already what was expected (the schema
 * and `expectedText` write it); found is read from the input at the issue's path, described
 * (`describe`: quoted, shortened) and escaped, so nothing raw or huge reaches a terminal.
 */
export function problemsOf(issues: readonly z.core.$ZodIssue[], input: unknown): TaskFileProblem[] {
  const problems: TaskFileProblem[] = []
  for (const issue of issues) {
    if (problems.length >= MAX_PROBLEMS) break
    const at = pathText(issue.path)
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys.slice(0, MAX_PROBLEMS - problems.length))
        problems.push({ path: at, expected: issue.message, found: `unknown field ${safe(describe(key))}` })
      continue
    }
    const found =
      issue.code === 'custom' && typeof issue.params?.found === 'string'
        ? safe(issue.params.found)
        : safe(describe(valueAt(input, issue.path)))
    problems.push({ path: at, expected: issue.message, found })
  }
  return problems
}

/**
 * What was expected, for an issue the schema gave no words of its own (task-schema.ts words every
 * field; this is the net under it, so zod's own prose never reaches the operator).
 */
export function expectedText(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected === 'object' || issue.expected === 'array'
        ? `an ${issue.expected}`
        : `a value of type ${issue.expected}`
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`
    case 'unrecognized_keys':
      return 'only known fields'
    case 'too_small':
      return `at least ${String(issue.minimum)}`
    case 'too_big':
      return `at most ${String(issue.maximum)}`
    default:
      return 'a valid value'
  }
}

/** `head.layers[0].units`; the top level is "". */
function pathText(path: readonly PropertyKey[]): string {
  let text = ''
  for (const key of path)
    if (typeof key === 'number') text += `[${key}]`
    else text += `${text === '' ? '' : '.'}${safe(String(key))}`
  return text
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input
  for (const key of path) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return undefined
    value = (value as Record<PropertyKey, unknown>)[key]
  }
  return value
}

const safe = (text: string) => escapeText(text, 200)
