import type { FastifyInstance } from 'fastify'
import { installLayout } from '../install/layout.ts'
import { pageProblem, servePageFolder } from './page-folder.ts'

/**
 * The browser participants' page: client-web's Vite build (index.html and hashed assets/), served
 * read-only under /join from one folder. The page is cross-origin isolated (COOP + COEP): no other
 * origin's window or resource shares its browsing context group, and SharedArrayBuffer is there for
 * a threaded WebAssembly backend (tfjs-wasm 4.22's threads are off for now: client-web/src/wasm-backend.ts).
 */
export const JOIN_PATH = '/join'

/** client-web's build output: in this repository, or in the installed release package. */
export const DEFAULT_WEB_DIR = installLayout.webDir

const PAGE = { what: 'the browser page', build: 'npm run build:web' } as const

/** Why /join cannot serve the page (a sentence for the operator and the volunteer), or null. */
export function webPageProblem(webDir: string | undefined): Promise<string | null> {
  return pageProblem({ ...PAGE, dir: webDir })
}

/**
 * Registers GET /join (and /join/) for index.html and /join/<path> for the files beside it. Every
 * answer, refusals included, carries the cross-origin isolation headers.
 */
export function serveWebPage(app: FastifyInstance, webDir: string | undefined): void {
  servePageFolder(app, {
    ...PAGE,
    prefix: JOIN_PATH,
    dir: webDir,
    headers: {
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'x-content-type-options': 'nosniff',
    },
  })
}
