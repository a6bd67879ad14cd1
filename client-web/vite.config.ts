import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

/**
 * The volunteer page, built to static files the coordinator serves under /join/ (coordinator/src/http/app.ts).
 * `npm run build:web` writes dist/; the browser test builds its own copy into a temporary folder.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/join/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // tfjs alone is ~1.4 MB minified; one chunk per entry is what we want, so no warning about it.
    chunkSizeWarningLimit: 4096,
  },
  worker: { format: 'es' },
})
