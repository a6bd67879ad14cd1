import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseTaskFile, taskFileJsonSchemaText, taskFileSchema, withFieldTables } from '@fedtune/coordinator'
import { demoTask } from 'fedtune/demo-task'
import { describe, expect, it } from 'vitest'

const docs = fileURLToPath(new URL('../../docs/', import.meta.url))
const markdown = readFileSync(`${docs}task-file.md`, 'utf8')

/** The problems zod finds, as path: message, so a failure says which field and why. */
function problems(value: unknown): string[] {
  const parsed = taskFileSchema.safeParse(value)
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
}

describe('the published task file schema', () => {
  it('docs/task-file.schema.json is what the schema generates (npm run docs:task-schema writes it)', () => {
    expect(readFileSync(`${docs}task-file.schema.json`, 'utf8')).toBe(taskFileJsonSchemaText())
  })

  it('docs/task-file.md’s field tables are what the schema generates (npm run docs:task-schema writes them)', () => {
    expect(markdown).toContain('<!-- fields:begin -->\n| field | type | default | meaning |')
    expect(markdown).toContain('<!-- aggregation-fields:begin -->\n| field | type | default | meaning |')
    expect(withFieldTables(markdown)).toBe(markdown)
  })

  it('describes every field it publishes, and refuses unknown ones', () => {
    const undescribed: string[] = []
    const open: string[] = []
    const visit = (node: unknown, path: string) => {
      if (typeof node !== 'object' || node === null) return
      const n = node as Record<string, unknown>
      if (n.type === 'object' && n.additionalProperties !== false) open.push(path)
      for (const [key, child] of Object.entries((n.properties ?? {}) as Record<string, unknown>)) {
        const c = child as Record<string, unknown>
        const at = `${path}.${key}`
        // A field that is an object of described fields needs no words of its own.
        if (typeof c.description !== 'string' && c.properties === undefined && c.oneOf === undefined)
          if (!['type', 'units', 'rate', 'activation'].includes(key)) undescribed.push(at)
        visit(child, at)
      }
      for (const option of (n.oneOf ?? []) as unknown[]) visit(option, path)
      if (n.items !== undefined) visit(n.items, `${path}[]`)
    }
    const schema = JSON.parse(taskFileJsonSchemaText())
    visit(schema, '')
    expect(schema).toMatchObject({ title: 'fedtune task file', additionalProperties: false })
    expect(undescribed).toEqual([])
    expect(open).toEqual([])
  })

  it('the task file the demo writes is valid, with and without volunteers and a validation folder', () => {
    for (const [volunteers, validation] of [
      [false, '/srv/demo/data/validation'],
      [true, null],
    ] as const) {
      const task = demoTask({
        dataset: 'pneumoniamnist',
        hospitals: 3,
        rounds: 5,
        volunteers,
        backboneDir: '/srv/shared/backbones/mobilenet_v2_0.35_224',
        digest: 'ab'.repeat(32),
        labels: ['normal', 'pneumonia'],
        validation,
        test: '/srv/demo/data/test',
      })
      expect(problems(task)).toEqual([])
      const parsed = parseTaskFile(task, '/srv/demo')
      expect(parsed.participation.browsers.enabled).toBe(volunteers)
      expect(parsed.evaluation).toEqual({
        validation,
        test: '/srv/demo/data/test',
        metric: 'auc',
        patience: null,
        prior: 'federation',
      })
    }
  })

  it('every JSON example in docs/task-file.md is a valid task file, or a valid part of the first', () => {
    const examples = [...markdown.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1] as string)
    expect(examples.length).toBeGreaterThanOrEqual(4)
    // The example shows where the digest comes from instead of a digest a reader might copy.
    const digest = (text: string) =>
      text.replace('<64 hex digits from: fedtune backbone digest <folder>>', 'ab'.repeat(32))
    const [whole, ...parts] = examples
    const example = JSON.parse(digest(whole as string))
    expect(problems(example)).toEqual([])
    for (const part of parts) {
      const fragment = JSON.parse(`{${digest(part)}}`) as Record<string, unknown>
      expect(problems({ ...example, ...fragment }), part).toEqual([])
    }
  })
})
