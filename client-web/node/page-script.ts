import { build as viteBuild } from 'vite'

/**
 * A module bundled by Vite into one script for a page (an IIFE that sets `globalThis[name]`), so a
 * test or a bench runs the page's real code in Chromium rather than a copy of it.
 */
export async function bundlePageScript(entry: string, name: string): Promise<string> {
  const built = await viteBuild({
    configFile: false,
    logLevel: 'silent',
    build: { write: false, minify: false, lib: { entry, formats: ['iife'], name } },
  })
  // write: false without watch gives the output (one per format), never a watcher.
  const output = Array.isArray(built) ? built[0] : built
  const chunk = output !== undefined && 'output' in output ? output.output[0] : undefined
  if (chunk === undefined || !('code' in chunk)) throw new Error(`the page script ${entry} came out empty`)
  return chunk.code
}
