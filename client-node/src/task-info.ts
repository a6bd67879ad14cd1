import type { FetchUrl } from '@fedtune/model/node'
import { parseTaskInfo, type TaskInfo } from '@fedtune/protocol'
import { ConnectionError } from './connection-error.ts'

/** The task description is small; a body beyond this is not a coordinator's answer. */
const MAX_BODY_BYTES = 1 << 20

/**
 * The task's public description from the coordinator's `GET /api/task` (the one the volunteers'
 * page reads), without a socket, a hello or an identity: `--check` learns the task's labels and
 * head from it while the coordinator sees no participant.
 */
export async function fetchTaskInfo(
  coordinatorUrl: string,
  task: string | undefined,
  /** Through the client's proxy and with its trust (connection.ts); global fetch without. */
  fetchUrl: FetchUrl = fetch,
  timeoutMs = 10_000,
): Promise<TaskInfo> {
  const url = new URL('/api/task', coordinatorUrl)
  if (task !== undefined) url.searchParams.set('task', task)
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`cannot reach the coordinator at ${url.origin} (no answer in ${timeoutMs / 1000} s)`),
        ),
      timeoutMs,
    )
  })
  let response: Awaited<ReturnType<FetchUrl>>
  let text: string
  try {
    response = await Promise.race([fetchUrl(url.href), timeout])
    text = await Promise.race([bodyText(response.body), timeout])
  } catch (error) {
    if (error instanceof ConnectionError) throw error
    const cause = (error as { cause?: { code?: string; message?: string } }).cause
    throw new Error(
      (error as Error).message.startsWith('cannot reach')
        ? (error as Error).message
        : `cannot reach the coordinator at ${url.origin} (${(error as NodeJS.ErrnoException).code ?? cause?.code ?? cause?.message ?? (error as Error).message})`,
    )
  } finally {
    clearTimeout(timer)
  }
  if (!response.ok) {
    let message = text.slice(0, 500)
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message
    } catch {
      // not JSON: the start of the body says what answered (a proxy's page, say)
    }
    throw new Error(`the coordinator answered ${url.pathname} with ${response.status}: ${message}`)
  }
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new Error(`the coordinator's ${url.pathname} is not JSON: is ${url.origin} a fedtune coordinator?`)
  }
  return parseTaskInfo(body)
}

async function bodyText(body: AsyncIterable<Uint8Array> | null): Promise<string> {
  if (body === null) return ''
  const chunks: Uint8Array[] = []
  let bytes = 0
  for await (const chunk of body) {
    bytes += chunk.byteLength
    if (bytes > MAX_BODY_BYTES) throw new Error(`an answer beyond ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
