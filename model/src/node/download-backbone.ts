import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { type BackboneFile, backboneListing, concatBytes } from '@fedtune/protocol'
import { isSafeRelative, parseModelJson } from '../model-json.ts'
import { writeFileAtomic } from './atomic-write.ts'
import { digestMismatch } from './backbone-folder.ts'
import { sha256Hex } from './sha256.ts'

type Progress = (doneBytes: number, totalBytes: number) => void

/**
 * A GET of one URL: the global `fetch` by default; the hospital client passes its own, which goes
 * through its proxy and trusts what its --ca and --pin-sha256 say (client-node/src/connection.ts).
 */
export type FetchUrl = (url: string) => Promise<{
  readonly ok: boolean
  readonly status: number
  readonly statusText: string
  readonly body: AsyncIterable<Uint8Array> | null
}>

/**
 * Fetches the backbone files listed in `expected` from `url` (a base ending in '/') into
 * cacheDir/backbones/<digest>/, checking every file's SHA-256 before it is renamed into place.
 * Files already cached with the right hash are kept, so a second call makes no request and an
 * interrupted download resumes file by file. Returns the folder.
 */
export async function downloadBackbone(
  url: string,
  expected: { digest: string; files: readonly BackboneFile[] },
  cacheDir: string,
  onProgress?: Progress,
  fetchUrl: FetchUrl = fetch,
): Promise<string> {
  const listed = sha256Hex(backboneListing(expected.files))
  if (listed !== expected.digest)
    throw new Error(`backbone: the file list hashes to ${listed}, not the expected digest ${expected.digest}`)
  if (!url.endsWith('/')) throw new Error(`backbone: expected a base URL ending in '/', got ${url}`)
  for (const f of expected.files)
    if (!isSafeRelative(f.name)) throw new Error(`backbone: refusing the file name ${JSON.stringify(f.name)}`)
  const dir = backboneCacheDir(cacheDir, expected.digest)
  const total = expected.files.reduce((sum, f) => sum + f.bytes, 0)
  let done = 0
  for (const file of expected.files) {
    const local = path.join(dir, file.name)
    if ((await hashOfFile(local)) === file.sha256) {
      done += file.bytes
      onProgress?.(done, total)
      continue
    }
    const bytes = await fetchBytes(
      new URL(file.name, url).href,
      (n) => {
        done += n
        onProgress?.(done, total)
      },
      fetchUrl,
    )
    const actual = sha256Hex(bytes)
    if (actual !== file.sha256 || bytes.byteLength !== file.bytes)
      throw new Error(
        `backbone: ${file.name} from ${url} has sha256 ${actual} (${bytes.byteLength} bytes), expected ${file.sha256} (${file.bytes} bytes); refusing it`,
      )
    await writeFileAtomic(local, bytes)
  }
  return dir
}

/**
 * For a model the operator names by URL: fetches model.json and the weight files it lists
 * (relative to it), and keeps them only if their digest is `expectedDigest`.
 */
export async function fetchBackboneFromUrl(
  modelJsonUrl: string,
  cacheDir: string,
  expectedDigest: string,
  /** totalBytes is 0: the size is unknown until model.json is read. */
  onProgress?: Progress,
): Promise<string> {
  const base = new URL(modelJsonUrl)
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new Error(`backbone: expected an http(s) URL of a model.json, got ${modelJsonUrl}`)
  const dir = backboneCacheDir(cacheDir, expectedDigest)
  const cached = await cachedDigest(dir)
  if (cached === expectedDigest) return dir
  const { bytes, weightFiles, files, digest } = await fetchBackboneFiles(base, onProgress)
  if (digest !== expectedDigest) throw new Error(digestMismatch(modelJsonUrl, expectedDigest, digest, files))
  // Weights first, model.json last: a folder with a model.json is then complete.
  for (const name of [...weightFiles, 'model.json'])
    await writeFileAtomic(path.join(dir, name), bytes.get(name) as Uint8Array)
  return dir
}

/**
 * The backbone at a model.json URL, fetched with the weight files it lists (relative to it) and
 * kept nowhere: its files' hashes and its digest, what `fedtune backbone digest <url>` prints and a
 * task file's backbone.sha256 must say. Whoever runs it trusts what the URL served this once.
 */
export async function readBackboneUrl(
  modelJsonUrl: string,
  onProgress?: Progress,
): Promise<{ files: BackboneFile[]; digest: string }> {
  const base = new URL(modelJsonUrl)
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new Error(`backbone: expected an http(s) URL of a model.json, got ${modelJsonUrl}`)
  const { files, digest } = await fetchBackboneFiles(base, onProgress)
  return { files, digest }
}

/** model.json at `base` and its weight files, in memory, with their listing's digest. */
async function fetchBackboneFiles(base: URL, onProgress?: Progress) {
  let done = 0
  const count = (n: number) => {
    done += n
    onProgress?.(done, 0)
  }
  const modelBytes = await fetchBytes(base.href, count, fetch)
  const { weightFiles } = parseModelJson(modelBytes, base.href)
  const bytes = new Map<string, Uint8Array>([['model.json', modelBytes]])
  for (const name of weightFiles) bytes.set(name, await fetchBytes(new URL(name, base).href, count, fetch))
  const files = [...bytes].map(([name, b]) => ({ name, sha256: sha256Hex(b), bytes: b.byteLength }))
  return { bytes, weightFiles, files, digest: sha256Hex(backboneListing(files)) }
}

export function backboneCacheDir(cacheDir: string, digest: string): string {
  if (!/^[0-9a-f]{64}$/.test(digest))
    throw new Error(`backbone: expected a hex SHA-256 digest, got ${JSON.stringify(digest)}`)
  return path.join(cacheDir, 'backbones', digest)
}

async function cachedDigest(dir: string): Promise<string | null> {
  const modelPath = path.join(dir, 'model.json')
  const modelBytes = await readIfExists(modelPath)
  if (modelBytes === null) return null
  const { weightFiles } = parseModelJson(modelBytes, modelPath)
  const files = [{ name: 'model.json', sha256: sha256Hex(modelBytes), bytes: modelBytes.byteLength }]
  for (const name of weightFiles) {
    const b = await readIfExists(path.join(dir, name))
    if (b === null) return null
    files.push({ name, sha256: sha256Hex(b), bytes: b.byteLength })
  }
  return sha256Hex(backboneListing(files))
}

async function hashOfFile(file: string): Promise<string | null> {
  const bytes = await readIfExists(file)
  return bytes === null ? null : sha256Hex(bytes)
}

async function readIfExists(file: string): Promise<Uint8Array | null> {
  try {
    return new Uint8Array(await readFile(file))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
}

async function fetchBytes(
  url: string,
  onChunk: (bytes: number) => void,
  fetchUrl: FetchUrl,
): Promise<Uint8Array> {
  const response = await fetchUrl(url)
  if (!response.ok || response.body === null)
    throw new Error(`backbone: GET ${url} answered ${response.status} ${response.statusText}`)
  const chunks: Uint8Array[] = []
  for await (const chunk of response.body) {
    chunks.push(chunk)
    onChunk(chunk.byteLength)
  }
  return concatBytes(...chunks)
}
