import { readFile } from 'node:fs/promises'
import { escapeText } from '@fedtune/protocol'
import { CommandError } from './command-io.ts'

/** The coordinator's answer to a request it refused or failed: its status, its error code, what it said. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  readonly status: number
  readonly code: string
  /** The refusal's JSON body as sent (a task file's `problems` among it); null when there was none. */
  readonly body: unknown

  constructor(status: number, code: string, message: string, body: unknown = null) {
    super(message)
    this.status = status
    this.code = code
    this.body = body
  }
}

export type Query = Readonly<Record<string, string | number | undefined>>

/** JSON over the coordinator's API, as an operator's script uses it: every call carries the API token. */
export type ApiClient = {
  readonly baseUrl: string
  get<T>(path: string, query?: Query): Promise<T>
  /** A binary answer (a run's head): its bytes as sent; a refusal is still the coordinator's JSON. */
  bytes(path: string): Promise<Uint8Array>
  send<T>(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T>
}

export function apiClient(opts: {
  readonly baseUrl: string
  readonly token: string
  readonly fetch?: typeof fetch
}): ApiClient {
  const base = opts.baseUrl.replace(/\/+$/, '')
  const doFetch = opts.fetch ?? fetch
  const call = async (
    method: string,
    path: string,
    query: Query,
    body?: unknown,
    binary = false,
  ): Promise<unknown> => {
    const url = new URL(base + path)
    for (const [key, value] of Object.entries(query))
      if (value !== undefined) url.searchParams.set(key, String(value))
    const where = `${method} ${url.toString()}`
    let response: Response
    try {
      response = await doFetch(url, {
        method,
        headers: {
          authorization: `Bearer ${opts.token}`,
          accept: binary ? 'application/octet-stream, application/json' : 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
    } catch (error) {
      const cause = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message
      throw new ApiError(0, 'unreachable', `${where}: could not reach the coordinator (${escapeText(cause)})`)
    }
    if (binary && response.ok) return new Uint8Array(await response.arrayBuffer())
    const text = await response.text()
    const parsed = jsonOf(text)
    if (response.ok) {
      if (!parsed.ok)
        throw new ApiError(
          response.status,
          'not-json',
          `${where}: expected JSON, got ${escapeText(text, 200)} (${escapeText(parsed.why, 200)})`,
        )
      return parsed.value
    }
    // A refusal's body is { error, message } from the coordinator, or whatever a proxy in front said.
    const said = (parsed.ok ? parsed.value : null) as { error?: unknown; message?: unknown } | null
    const code = typeof said?.error === 'string' ? said.error : 'http-error'
    const message = typeof said?.message === 'string' ? said.message : text
    const retry = response.headers.get('retry-after')
    throw new ApiError(
      response.status,
      code,
      `${where} answered ${response.status} ${escapeText(code, 64)}: ${escapeText(message)}${retry ? ` (retry after ${escapeText(retry, 32)} s)` : ''}`,
      parsed.ok ? parsed.value : null,
    )
  }
  return {
    baseUrl: base,
    get: async <T>(path: string, query: Query = {}) => (await call('GET', path, query)) as T,
    bytes: async (path) => (await call('GET', path, {}, undefined, true)) as Uint8Array,
    send: async <T>(method: string, path: string, body?: unknown) =>
      (await call(method, path, {}, body)) as T,
  }
}

function jsonOf(text: string): { ok: true; value: unknown } | { ok: false; why: string } {
  if (text === '') return { ok: true, value: null }
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (error) {
    return { ok: false, why: (error as Error).message }
  }
}

/**
 * The client a command's options describe: the coordinator from `--coordinator` or FEDTUNE_COORDINATOR,
 * the API token from the file `--token-file` names or FEDTUNE_TOKEN. Either missing is a CommandError
 * saying where to put it.
 */
export async function apiClientFrom(
  options: { readonly coordinator?: string | undefined; readonly tokenFile?: string | undefined },
  env: NodeJS.ProcessEnv,
): Promise<ApiClient> {
  const baseUrl = options.coordinator ?? env.FEDTUNE_COORDINATOR
  if (baseUrl === undefined || baseUrl === '')
    throw new CommandError(
      'expected the coordinator\'s URL: --coordinator <url> or FEDTUNE_COORDINATOR (e.g. "http://localhost:8080")',
      2,
    )
  if (!/^https?:\/\/[^/]/.test(baseUrl))
    throw new CommandError(
      `expected the coordinator's URL to start with http:// or https://, got ${escapeText(baseUrl, 200)}`,
      2,
    )
  let token: string
  if (options.tokenFile !== undefined) {
    try {
      token = (await readFile(options.tokenFile, 'utf8')).trim()
    } catch (error) {
      throw new CommandError(
        `cannot read the token file ${escapeText(options.tokenFile)}: ${(error as Error).message}`,
      )
    }
    if (token === '') throw new CommandError(`the token file ${escapeText(options.tokenFile)} is empty`)
  } else {
    token = env.FEDTUNE_TOKEN?.trim() ?? ''
    if (token === '')
      throw new CommandError(
        'expected an API token: --token-file <file> or FEDTUNE_TOKEN (create one signed in: POST /api/tokens)',
        2,
      )
  }
  return apiClient({ baseUrl, token })
}
