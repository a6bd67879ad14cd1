import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { taskFileJsonSchemaText, withFieldTables } from './task-docs.ts'

/** `npm run docs:task-schema`: docs/task-file.schema.json and docs/task-file.md's tables, from the schema. */
const docs = fileURLToPath(new URL('../../../docs/', import.meta.url))
writeFileSync(`${docs}task-file.schema.json`, taskFileJsonSchemaText())
const markdown = `${docs}task-file.md`
writeFileSync(markdown, withFieldTables(readFileSync(markdown, 'utf8')))
process.stdout.write('wrote docs/task-file.schema.json and the field tables of docs/task-file.md\n')
