import { type Backbone, backboneFromArtifacts, parseModelJson, verifiedFilesHandler } from '@fedtune/model'
import { concatBytes, type TaskInfo } from '@fedtune/protocol'
import { hex } from './identity.ts'
import { load, save } from './store.ts'

type CachedFiles = { digest: string; files: { name: string; bytes: Uint8Array }[] }

export type BackboneProgress = (loaded: number, total: number, fromCache: boolean) => void

/**
 * The task's frozen backbone: from IndexedDB when this browser already fetched it, else downloaded
 * from the coordinator file by file. Every file is checked against the SHA-256 the task lists, on
 * download and again when read back from the cache, before tfjs sees a byte; a mismatch is an error
 * that names the file, never a silent re-download of something else. Nothing is stored once `signal`
 * has aborted (the volunteer pressed Stop).
 */
export async function taskBackbone(
  task: TaskInfo,
  onProgress: BackboneProgress,
  signal: AbortSignal,
): Promise<Backbone> {
  const key = `backbone:${task.backbone.digest}`
  const total = task.backbone.files.reduce((sum, f) => sum + f.bytes, 0)
  let bytes: Map<string, Uint8Array>
  const cached = await load<CachedFiles>(key)
  if (cached !== undefined) {
    bytes = new Map(cached.files.map((f) => [f.name, f.bytes]))
    await verify(task, bytes, 'cached')
    onProgress(total, total, true)
  } else {
    bytes = await download(task, total, onProgress, signal)
    // Stopped meanwhile: the volunteer was promised nothing stays stored.
    signal.throwIfAborted()
    await save(key, {
      digest: task.backbone.digest,
      files: [...bytes].map(([name, b]) => ({ name, bytes: b })),
    })
  }
  const modelJson = bytes.get('model.json')
  if (modelJson === undefined) throw new Error('backbone: the task lists no model.json')
  const { json } = parseModelJson(modelJson, 'backbone model.json')
  const backbone = await backboneFromArtifacts(await verifiedFilesHandler(json, bytes).load())
  if (backbone.embeddingDim !== task.backbone.embeddingDim) {
    backbone.dispose()
    throw new Error(
      `backbone: the task says ${task.backbone.embeddingDim}-d embeddings, the model gives ${backbone.embeddingDim}`,
    )
  }
  return backbone
}

async function download(task: TaskInfo, total: number, onProgress: BackboneProgress, signal: AbortSignal) {
  const bytes = new Map<string, Uint8Array>()
  let loaded = 0
  for (const file of task.backbone.files) {
    const url = new URL(`${task.backbone.path}${file.name}`, location.origin)
    // Stop aborts the transfer itself, not only what follows it.
    const response = await fetch(url, { signal })
    if (!response.ok || response.body === null)
      throw new Error(`backbone: GET ${url.pathname} answered ${response.status} ${response.statusText}`)
    const parts: Uint8Array[] = []
    let got = 0
    const reader = response.body.getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      parts.push(value)
      got += value.byteLength
      if (got > file.bytes)
        throw new Error(`backbone: ${file.name} is larger than the ${file.bytes} bytes the task lists`)
      onProgress(loaded + got, total, false)
    }
    loaded += got
    bytes.set(file.name, concatBytes(...parts))
  }
  await verify(task, bytes, 'downloaded')
  return bytes
}

async function verify(task: TaskInfo, bytes: ReadonlyMap<string, Uint8Array>, how: string): Promise<void> {
  for (const file of task.backbone.files) {
    const got = bytes.get(file.name)
    if (got === undefined) throw new Error(`backbone: ${how} files lack ${file.name}`)
    if (got.byteLength !== file.bytes)
      throw new Error(
        `backbone: ${how} ${file.name} has ${got.byteLength} bytes, the task lists ${file.bytes}`,
      )
    const sha256 = hex(new Uint8Array(await crypto.subtle.digest('SHA-256', got as Uint8Array<ArrayBuffer>)))
    if (sha256 !== file.sha256)
      throw new Error(
        `backbone: ${how} ${file.name} has SHA-256 ${sha256}, the task lists ${file.sha256}; refusing to use a different model`,
      )
  }
}
