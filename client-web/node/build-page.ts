import { build } from 'vite'

/** Builds client-web with its own Vite config into `outDir` (the page the coordinator serves at /join). */
export async function buildPage(outDir: string): Promise<string> {
  await build({
    configFile: new URL('../vite.config.ts', import.meta.url).pathname,
    build: { outDir, emptyOutDir: true },
    logLevel: 'warn',
  })
  return outDir
}
