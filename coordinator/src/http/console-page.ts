import type { FastifyInstance } from 'fastify'
import { installLayout } from '../install/layout.ts'
import { pageProblem, servePageFolder } from './page-folder.ts'

/**
 * The operators' console: console/'s Vite build, served under /console. The page itself is public
 * (it holds no data); everything it shows comes from the API and the console feed, which need a
 * session. Its scripts and styles come only from here, and no other site may frame it.
 */
export const CONSOLE_PATH = '/console'

/** console's build output: in this repository, or in the installed release package. */
export const DEFAULT_CONSOLE_DIR = installLayout.consoleDir

const PAGE = { what: 'the operator console', build: 'npm run build:console' } as const

export function consolePageProblem(consoleDir: string | undefined): Promise<string | null> {
  return pageProblem({ ...PAGE, dir: consoleDir })
}

export function serveConsolePage(app: FastifyInstance, consoleDir: string | undefined): void {
  servePageFolder(app, {
    ...PAGE,
    prefix: CONSOLE_PATH,
    dir: consoleDir,
    headers: {
      // participant names and agents are shown on this page: no script but its own may ever run
      'content-security-policy':
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    },
  })
}
