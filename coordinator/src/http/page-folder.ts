import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { extname, join, resolve, sep } from 'node:path'
import type { FastifyInstance, FastifyReply } from 'fastify'

/**
 * A Vite build (index.html and hashed assets/) served read-only under one prefix: the volunteers'
 * page at /join (web-page.ts) and the operators' console at /console (console-page.ts).
 */
export type PageFolder = {
  readonly prefix: string
  /** The build's folder; undefined serves no page (503 saying so). */
  readonly dir: string | undefined
  /** The page in a sentence's words: "the browser page". */
  readonly what: string
  /** What builds it: "npm run build:web". */
  readonly build: string
  /** Headers on every answer under the prefix, refusals included. */
  readonly headers: Readonly<Record<string, string>>
}

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

/** Why the page cannot be served (a sentence for the operator and the visitor), or null. */
export async function pageProblem(page: Omit<PageFolder, 'prefix' | 'headers'>): Promise<string | null> {
  if (page.dir === undefined) return `this coordinator was started without a folder for ${page.what}`
  const index = join(page.dir, 'index.html')
  if (await isFile(index)) return null
  return `${page.what} is not built (${index} is missing); run \`${page.build}\` and reload`
}

/**
 * Registers GET <prefix> (and <prefix>/) for index.html and <prefix>/<path> for the files beside it,
 * every one public. A path that leaves the folder, or names a hidden file, is a 404 like any file
 * that is not there.
 */
export function servePageFolder(app: FastifyInstance, page: PageFolder): void {
  app.register(
    async (scope) => {
      scope.addHook('onSend', async (_request, reply, payload) => {
        for (const [name, value] of Object.entries(page.headers)) reply.header(name, value)
        return payload
      })
      scope.get('/', { config: { access: 'public' } }, async (_request, reply) =>
        send(reply, page, 'index.html'),
      )
      scope.get<{ Params: { '*': string } }>('/*', { config: { access: 'public' } }, async (request, reply) =>
        send(reply, page, request.params['*'] || 'index.html'),
      )
    },
    { prefix: page.prefix },
  )
}

async function send(reply: FastifyReply, page: PageFolder, path: string): Promise<FastifyReply> {
  const problem = await pageProblem(page)
  const { dir } = page
  if (problem !== null || dir === undefined)
    return reply.code(503).type('text/plain; charset=utf-8').send(`${problem}\n`)
  const file = inside(dir, path)
  const size = file === null ? null : await fileSize(file)
  if (file === null || size === null)
    return reply
      .code(404)
      .type('text/plain; charset=utf-8')
      .send(`not found: ${page.what} has no file ${JSON.stringify(path.slice(0, 200))}\n`)
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
