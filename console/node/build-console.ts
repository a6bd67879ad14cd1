import { build } from 'vite'

/** Builds the console with its own Vite config into `outDir` (the page the coordinator serves at /console). */
export async function buildConsole(outDir: string): Promise<string> {
  await build({
    configFile: new URL('../vite.config.ts', import.meta.url).pathname,
    build: { outDir, emptyOutDir: true },
    logLevel: 'warn',
  })
  return outDir
}
