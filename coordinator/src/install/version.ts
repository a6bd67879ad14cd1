import { readFileSync } from 'node:fs'
import { installLayout } from './layout.ts'

let version: string | undefined

/** fedtune's version, from its manifest (cli/package.json here; the package's own when installed). */
export function fedtuneVersion(): string {
  if (version === undefined) {
    const manifest = JSON.parse(readFileSync(installLayout.manifest, 'utf8')) as { version?: unknown }
    if (typeof manifest.version !== 'string')
      throw new Error(
        `${installLayout.manifest}: expected a "version" string, got ${typeof manifest.version}`,
      )
    version = manifest.version
  }
  return version
}
