import type { z } from 'zod'

/** The largest JSON body the operator routes accept: names, a role, a password, a label. */
export const OPERATOR_BODY_LIMIT = 4096

export type Parsed<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string }

/**
 * A request body or query checked against its schema at the edge: the typed value, or every problem
 * at once (where, what was expected), for a 400. A password's value is never echoed: zod's messages
 * name the type that arrived, not its content.
 */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): Parsed<z.output<S>> {
  const result = schema.safeParse(value)
  if (result.success) return { ok: true, value: result.data }
  const problems = result.error.issues.map(
    (issue) => `${issue.path.length === 0 ? '(the whole)' : issue.path.join('.')}: ${issue.message}`,
  )
  return { ok: false, message: `${what}: ${problems.join('; ')}` }
}
