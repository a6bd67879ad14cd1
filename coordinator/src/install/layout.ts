import { fileURLToPath } from 'node:url'
import type { InstallLayout } from './install-layout.ts'

/** This repository's root, found from this file's own place (coordinator/src/install/). */
const ROOT = new URL('../../../', import.meta.url)

const at = (path: string) => fileURLToPath(new URL(path, ROOT))

/** fedtune run from this repository's sources. The release build replaces this file: release-layout.ts. */
export const installLayout: InstallLayout = {
  webDir: at('client-web/dist'),
  consoleDir: at('console/dist'),
  bin: at('cli/bin/fedtune.js'),
  manifest: at('cli/package.json'),
  sharedDir: at('../shared'),
}
