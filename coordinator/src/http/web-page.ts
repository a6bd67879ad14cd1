import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { extname, join, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply } from 'fastify'

/**
 * The browser participants' page: client-web's Vite build (index.html and hashed assets/), served
 * read-only under /join from one folder. The page is cross-origin isolated (COOP + COEP): no other
 * origin's window or resource shares its browsing context group, and SharedArrayBuffer is there for
 * a threaded WebAssembly backend (tfjs-wasm 4.22's threads are off for now: client-web/src/wasm-backend.ts).
 */
export const JOIN_PATH = '/join'

/** client-web's build output in this repository, found from this file's own location. */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../../client-web/dist', import.meta.url))

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  // Browsers compile a module with WebAssembly.instantiateStreaming only under this exact type.
  '.wasm': 'application/wasm',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
}

/** Vite names every file under assets/ by its content hash, so a URL there never changes content. */
const IMMUTABLE = 'public, max-age=31536000, immutable'

/** Why /join cannot serve the page (a sentence for the operator and the volunteer), or null. */
export async function webPageProblem(webDir: string | undefined): Promise<string | null> {
  if (webDir === undefined) return 'this coordinator was started without a folder for the browser page'
  const index = join(webDir, 'index.html')
  if (await isFile(index)) return null
  return `the browser page is not built (${index} is missing); run \`npm run build:web\` and reload`
}

/**
 * Registers GET /join (and /join/) for index.html and /join/<path> for the files beside it. Every
 * answer, refusals included, carries the cross-origin isolation headers; a path that leaves the
 * folder, or names a hidden file, is a 404 like any file that is not there.
 */
export function serveWebPage(app: FastifyInstance, webDir: string | undefined): void {
  app.register(
    async (scope) => {
      scope.addHook('onSend', async (_request, reply, payload) => {
        reply.header('cross-origin-opener-policy', 'same-origin')
        reply.header('cross-origin-embedder-policy', 'require-corp')
        reply.header('x-content-type-options', 'nosniff')
        return payload
      })
      scope.get('/', { config: { access: 'public' } }, async (_request, reply) =>
        send(reply, webDir, 'index.html'),
      )
      scope.get<{ Params: { '*': string } }>('/*', { config: { access: 'public' } }, async (request, reply) =>
        send(reply, webDir, request.params['*'] || 'index.html'),
      )
    },
    { prefix: JOIN_PATH },
  )
}

async function send(reply: FastifyReply, webDir: string | undefined, path: string): Promise<FastifyReply> {
  const problem = await webPageProblem(webDir)
  if (problem !== null || webDir === undefined)
    return reply.code(503).type('text/plain; charset=utf-8').send(`${problem}\n`)
  const file = inside(webDir, path)
  const size = file === null ? null : await fileSize(file)
  if (file === null || size === null)
    return reply
      .code(404)
      .type('text/plain; charset=utf-8')
      .send(`not found: the browser page has no file ${JSON.stringify(path.slice(0, 200))}\n`)
  reply.header('cache-control', path.startsWith('assets/') ? IMMUTABLE : 'no-cache')
  reply.header('content-length', size)
  reply.type(TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream')
  return reply.send(createReadStream(file))
}

/**
 * The file `path` names under `root`, or null when it would leave the folder or names a hidden
 * file. `path` arrives percent-decoded, so an encoded "..%2F" is a plain ".." here.
 */
function inside(root: string, path: string): string | null {
  if (path.includes('\\') || path.includes('\0')) return null
  const segments = path.split('/')
  if (segments.some((s) => s === '' || s.startsWith('.'))) return null
  const base = resolve(root)
  const file = resolve(base, ...segments)
  return file.startsWith(base + sep) ? file : null
}

async function fileSize(path: string): Promise<number | null> {
  try {
    const s = await stat(path)
    return s.isFile() ? s.size : null
  } catch (error) {
    if (isMissing(error)) return null
    throw error
  }
}

async function isFile(path: string): Promise<boolean> {
  return (await fileSize(path)) !== null
}

/** Nothing there, or no such name could be there (a segment over the file system's 255 bytes). */
function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG'
}
