import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    /** A folder for the whole run: test/test-store.ts makes its migrated PGlite template there, once. */
    storeRoot: string
  }
}

/** Once per `vitest run`: a folder every test file's stores are copied from, removed at the end. */
export default function setup(project: TestProject): () => void {
  const root = mkdtempSync(join(tmpdir(), 'fedtune-stores-'))
  project.provide('storeRoot', root)
  return () => rmSync(root, { recursive: true, force: true })
}
