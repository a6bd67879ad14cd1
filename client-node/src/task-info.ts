import { parseTaskInfo, type TaskInfo } from '@fedtune/protocol'

/**
 * The task's public description from the coordinator's `GET /api/task` (the one the volunteers'
 * page reads), without a socket, a hello or an identity: `--check` learns the task's labels and
 * head from it while the coordinator sees no participant.
 */
export async function fetchTaskInfo(
  coordinatorUrl: string,
  task: string | undefined,
  timeoutMs = 10_000,
): Promise<TaskInfo> {
  const url = new URL('/api/task', coordinatorUrl)
  if (task !== undefined) url.searchParams.set('task', task)
  let response: Response
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause
    throw new Error(
      `cannot reach the coordinator at ${url.origin} (${cause?.code ?? cause?.message ?? (error as Error).message})`,
    )
  }
  const text = await response.text()
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
