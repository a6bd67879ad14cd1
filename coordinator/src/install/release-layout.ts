import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { InstallLayout } from './install-layout.ts'

/**
 * The release package's root: the bundle's files all sit in <package>/dist/ (cli/release/build.ts),
 * so this module, bundled into one of them, finds the package one folder up.
 */
const ROOT = new URL('../', import.meta.url)

const at = (path: string) => fileURLToPath(new URL(path, ROOT))

/** fedtune installed from its release package (`npm run release`), where this file replaces layout.ts. */
export const installLayout: InstallLayout = {
  webDir: at('pages/client-web'),
  consoleDir: at('pages/console'),
  bin: at('bin/fedtune.js'),
  manifest: at('package.json'),
  // Installed, fedtune lives in a global prefix: the shared folder is looked for beside the
  // working directory, as the demo's usage says ("../shared").
  sharedDir: resolve('..', 'shared'),
}
