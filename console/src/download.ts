import { ApiError } from './api.ts'

/**
 * Downloads `path` as the file name the coordinator suggests, else `filename`: the coordinator's refusal (a round that produced no head, a model
 * not kept) becomes an ApiError with its message instead of a file of JSON.
 */
export async function download(path: string, filename: string): Promise<void> {
  const response = await fetch(path, { credentials: 'same-origin' })
  if (!response.ok) {
    const text = await response.text()
    let message = `the coordinator answered ${response.status}`
    let code = `http-${response.status}`
    try {
      const body = JSON.parse(text) as { error?: unknown; message?: unknown }
      if (typeof body.message === 'string') message = body.message
      if (typeof body.error === 'string') code = body.error
    } catch {
      message = `${message}: ${text.slice(0, 200)}`
    }
    throw new ApiError(response.status, code, message)
  }
  const url = URL.createObjectURL(await response.blob())
  const a = document.createElement('a')
  a.href = url
  a.download = suggested(response.headers.get('content-disposition')) ?? filename
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

/** The file name a Content-Disposition header suggests (`filename="…"`), kept to safe characters; null: none. */
function suggested(header: string | null): string | null {
  const name = header === null ? undefined : /filename="?([^";]+)"?/i.exec(header)?.[1]
  const safe = name?.replace(/[^A-Za-z0-9._-]/g, '_')
  return safe === undefined || safe === '' ? null : safe
}
