import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { type BackboneFile, backboneListing } from '@fedtune/protocol'
import type * as tf from '@tensorflow/tfjs'
import { type Backbone, backboneFromArtifacts } from '../backbone.ts'
import { parseModelJson, verifiedFilesHandler } from '../model-json.ts'
import { sha256Hex } from './sha256.ts'

type FolderContents = {
  files: BackboneFile[]
  digest: string
  json: tf.io.ModelJSON
  bytes: Map<string, Uint8Array>
}

/** The backbone's files (model.json, then weights in manifest order) and its digest. */
export async function readBackboneFolder(dir: string): Promise<{ files: BackboneFile[]; digest: string }> {
  const { files, digest } = await readContents(dir)
  return { files, digest }
}

/**
 * Loads a backbone from a folder, refusing it if its digest is not `expectedDigest`. With
 * `expectedFiles` (the task's file list) the error also names the file that differs.
 */
export async function loadBackbone(
  dir: string,
  expectedDigest?: string,
  expectedFiles?: readonly BackboneFile[],
): Promise<Backbone & { digest: string; files: BackboneFile[] }> {
  const contents = await readContents(dir)
  if (expectedDigest !== undefined && contents.digest !== expectedDigest)
    throw new Error(digestMismatch(dir, expectedDigest, contents.digest, contents.files, expectedFiles))
  const artifacts = await verifiedFilesHandler(contents.json, contents.bytes).load()
  const backbone = await backboneFromArtifacts(artifacts)
  return { ...backbone, digest: contents.digest, files: contents.files }
}

export function digestMismatch(
  where: string,
  expected: string,
  actual: string,
  files: readonly BackboneFile[],
  expectedFiles?: readonly BackboneFile[],
): string {
  const differing = expectedFiles
    ?.map((e) => {
      const got = files.find((f) => f.name === e.name)
      if (!got) return `${e.name} is missing`
      return got.sha256 === e.sha256 ? null : `${e.name} has sha256 ${got.sha256}, expected ${e.sha256}`
    })
    .filter((s): s is string => s !== null)
  const extra = expectedFiles
    ? files.filter((f) => !expectedFiles.some((e) => e.name === f.name)).map((f) => f.name)
    : []
  const detail =
    differing === undefined
      ? `files: ${files.map((f) => `${f.name} ${f.sha256}`).join(', ')}`
      : [...differing, ...extra.map((name) => `${name} is not expected`)].join('; ') ||
        'the file lists differ'
  return `backbone ${where}: expected digest ${expected}, got ${actual} (${detail}); refusing to use a different model`
}

async function readContents(dir: string): Promise<FolderContents> {
  const modelBytes = new Uint8Array(await readFile(path.join(dir, 'model.json')))
  const { json, weightFiles } = parseModelJson(modelBytes, path.join(dir, 'model.json'))
  const bytes = new Map<string, Uint8Array>([['model.json', modelBytes]])
  for (const name of weightFiles) bytes.set(name, new Uint8Array(await readFile(path.join(dir, name))))
  const files = [...bytes].map(([name, b]) => ({ name, sha256: sha256Hex(b), bytes: b.byteLength }))
  return { files, digest: sha256Hex(backboneListing(files)), json, bytes }
}
