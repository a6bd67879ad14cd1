/**
 * The console's calls to the coordinator's REST API: same origin, the session cookie sent by the
 * browser, and on every state-changing request the CSRF token of the sign-in (x-csrf-token), which
 * the page keeps from the sign-in's answer or reads back from the fedtune_csrf cookie after a reload.
 */

export const CSRF_HEADER = 'x-csrf-token'
const CSRF_COOKIE = 'fedtune_csrf'

/** One mistake in a submitted task file, as POST /api/tasks lists them. */
export type TaskFileProblem = { readonly path: string; readonly expected: string; readonly found: string }

/** A refusal or failure of the API, with the coordinator's own code and message. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly problems: readonly TaskFileProblem[]

  constructor(status: number, code: string, message: string, problems: readonly TaskFileProblem[] = []) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.problems = problems
  }
}

let csrf: string | null = null

/** Keeps the sign-in's CSRF token (null: signed out). */
export function setCsrf(token: string | null): void {
  csrf = token
}

function csrfToken(): string | null {
  if (csrf !== null) return csrf
  for (const pair of document.cookie.split(';')) {
    const at = pair.indexOf('=')
    if (at !== -1 && pair.slice(0, at).trim() === CSRF_COOKIE) return pair.slice(at + 1).trim()
  }
  return null
}

/** The answer's JSON, or the ApiError it stands for (a non-JSON answer says what arrived). */
async function answer<T>(response: Response): Promise<T> {
  const text = await response.text()
  let body: unknown = null
  try {
    body = text === '' ? null : JSON.parse(text)
  } catch {
    body = null
  }
  if (response.ok) return body as T
  const fields = (body ?? {}) as { error?: unknown; message?: unknown; problems?: unknown }
  throw new ApiError(
    response.status,
    typeof fields.error === 'string' ? fields.error : `http-${response.status}`,
    typeof fields.message === 'string'
      ? fields.message
      : `the coordinator answered ${response.status} ${response.statusText}: ${text.slice(0, 200)}`,
    Array.isArray(fields.problems) ? (fields.problems as TaskFileProblem[]) : [],
  )
}

export async function get<T>(path: string): Promise<T> {
  return answer<T>(await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } }))
}

/** POST or DELETE with a JSON body (or a raw string: a task file is sent as its own text). */
export async function send<T>(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  const token = csrfToken()
  if (token !== null) headers[CSRF_HEADER] = token
  if (body !== undefined) headers['content-type'] = 'application/json'
  return answer<T>(
    await fetch(path, {
      method,
      credentials: 'same-origin',
      headers,
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    }),
  )
}
