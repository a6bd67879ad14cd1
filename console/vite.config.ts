import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

/**
 * The operator console, built to static files the coordinator serves under /console/
 * (coordinator/src/http/console-page.ts). `npm run build:console` writes dist/; the browser test
 * builds its own copy into a temporary folder.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
})
