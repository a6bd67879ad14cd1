import { z } from 'zod'
import { tableDocs, taskFileSchema } from './task-schema.ts'

/**
 * What the schema publishes: docs/task-file.schema.json and the field tables of docs/task-file.md,
 * both generated here (`npm run docs:task-schema`) and checked against the committed files by
 * test/coordinator/task-schema.test.ts, so the docs cannot drift from what the coordinator accepts.
 */

/** The JSON Schema of a task file as written (defaults optional), draft 2020-12. */
export function taskFileJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(taskFileSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>
}

/** docs/task-file.schema.json's text. */
export function taskFileJsonSchemaText(): string {
  return `${JSON.stringify(taskFileJsonSchema(), null, 2)}\n`
}

export type FieldRow = {
  readonly field: string
  readonly type: string
  readonly default: string
  readonly meaning: string
}

/** One row per field, in the schema's order; an object's fields each get a row unless it is one. */
export function fieldRows(): FieldRow[] {
  const rows: FieldRow[] = []
  walk(taskFileSchema, [], rows)
  return rows
}

function walk(schema: z.ZodType, path: readonly string[], rows: FieldRow[]): void {
  const core = unwrapped(schema)
  const doc = tableDocs.get(schema)
  if (core instanceof z.ZodObject && doc?.row !== true) {
    for (const [key, child] of Object.entries(core.shape)) walk(child as z.ZodType, [...path, key], rows)
    return
  }
  // A union's fields are its options' fields, the first option's when they share one.
  if (core instanceof z.ZodDiscriminatedUnion && doc?.row !== true) {
    const seen = new Set(rows.map((r) => r.field))
    for (const option of core.options) {
      const before = rows.length
      walk(option as z.ZodType, path, rows)
      const added = rows.splice(before).filter((r) => !seen.has(r.field))
      for (const row of added) seen.add(row.field)
      rows.push(...added)
    }
    return
  }
  rows.push({
    field: path.join('.'),
    type: doc?.type ?? typeText(core),
    default: doc?.default ?? defaultText(schema),
    meaning: schema.description ?? '',
  })
}

function unwrapped(schema: z.ZodType): z.ZodType {
  let core = schema
  while (core instanceof z.ZodDefault || core instanceof z.ZodPrefault || core instanceof z.ZodOptional)
    core = core.unwrap() as z.ZodType
  return core
}

function defaultText(schema: z.ZodType): string {
  let s = schema
  while (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodPrefault) {
    if (s instanceof z.ZodDefault) return `\`${JSON.stringify(s.def.defaultValue)}\``
    if (s instanceof z.ZodOptional) return 'none'
    s = s.unwrap() as z.ZodType
  }
  return 'required'
}

/** The type column from the field's own JSON Schema: `"a" | "b"`, `1..100`, `(0, 10]`, …. */
function typeText(core: z.ZodType): string {
  const json = z.toJSONSchema(core, { io: 'input' }) as Record<string, unknown>
  if (Array.isArray(json.enum)) return json.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' | ')
  if (json.const !== undefined) return `\`${JSON.stringify(json.const)}\``
  if (json.type === 'boolean') return '`true` | `false`'
  if (json.type === 'integer') return `${json.minimum}..${json.maximum}`
  if (json.type === 'number') {
    const low = json.exclusiveMinimum !== undefined ? `(${json.exclusiveMinimum}` : `[${json.minimum}`
    const high = json.exclusiveMaximum !== undefined ? `${json.exclusiveMaximum})` : `${json.maximum}]`
    return `${low}, ${high}`
  }
  if (json.type === 'string')
    return json.maxLength !== undefined ? `string, ≤ ${json.maxLength} characters` : 'string'
  return String(json.type ?? 'value')
}

/** A markdown table of the rows; a `|` inside a cell is escaped so it stays in its column. */
export function fieldTable(rows: readonly FieldRow[]): string {
  const cell = (text: string) => text.replaceAll('|', '\\|')
  const lines = rows.map(
    (r) => `| \`${r.field}\` | ${cell(r.type)} | ${cell(r.default)} | ${cell(r.meaning)} |`,
  )
  return ['| field | type | default | meaning |', '|---|---|---|---|', ...lines].join('\n')
}

/** The generated tables of docs/task-file.md: aggregation's in a section of its own. */
export const TABLES = {
  fields: (row: FieldRow) => !row.field.startsWith('aggregation.'),
  'aggregation-fields': (row: FieldRow) => row.field.startsWith('aggregation.'),
} as const

/** `markdown` with each table between its `<!-- name:begin -->` and `<!-- name:end -->` regenerated. */
export function withFieldTables(markdown: string): string {
  const rows = fieldRows()
  let out = markdown
  for (const [name, keep] of Object.entries(TABLES)) {
    const begin = `<!-- ${name}:begin -->`
    const end = `<!-- ${name}:end -->`
    const from = out.indexOf(begin)
    const to = out.indexOf(end)
    if (from < 0 || to < from)
      throw new Error(`docs/task-file.md: expected the markers ${begin} and ${end}, in that order`)
    out = `${out.slice(0, from + begin.length)}\n${fieldTable(rows.filter(keep))}\n${out.slice(to)}`
  }
  return out
}
