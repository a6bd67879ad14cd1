import { concatBytes, describe } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'

/**
 * Parses a layers-model model.json and lists its weight files in manifest order. Paths must be
 * plain relative names: they become file names in a cache folder and URLs under a base.
 */
export function parseModelJson(
  bytes: Uint8Array,
  where: string,
): { json: tf.io.ModelJSON; weightFiles: string[] } {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder().decode(bytes))
  } catch (error) {
    throw new Error(`${where}: expected a tfjs model.json, but it is not JSON (${(error as Error).message})`)
  }
  const manifest = (json as { weightsManifest?: unknown } | null)?.weightsManifest
  if (typeof json !== 'object' || json === null || !('modelTopology' in json) || !Array.isArray(manifest))
    throw new Error(`${where}: expected a tfjs layers model.json with modelTopology and weightsManifest`)
  const weightFiles: string[] = []
  for (const group of manifest as { paths?: unknown }[]) {
    if (!Array.isArray(group?.paths)) throw new Error(`${where}: a weightsManifest group has no paths`)
    for (const p of group.paths) {
      if (typeof p !== 'string' || !isSafeRelative(p))
        // describe, not JSON.stringify: a path nested thousands of arrays deep overflows the stack
        throw new Error(`${where}: expected weight paths relative to model.json, got ${describe(p)}`)
      weightFiles.push(p)
    }
  }
  return { json: json as tf.io.ModelJSON, weightFiles }
}

export function isSafeRelative(name: string): boolean {
  return (
    name.length > 0 &&
    !name.startsWith('/') &&
    !name.includes('\\') &&
    !name.includes('\0') &&
    !name.split('/').some((part) => part === '..' || part === '.' || part === '')
  )
}

/**
 * A tf.io handler over a backbone's files already fetched and hashed (model.json and its weight files
 * by name), so what is loaded is exactly what was verified — from a folder in Node, from IndexedDB in
 * a browser.
 */
export function verifiedFilesHandler(
  json: tf.io.ModelJSON,
  bytes: ReadonlyMap<string, Uint8Array>,
): Required<Pick<tf.io.IOHandler, 'load'>> {
  return {
    load: () =>
      tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights)
        const parts = manifest.flatMap((group) =>
          group.paths.map((p) => {
            const part = bytes.get(p)
            if (part === undefined) throw new Error(`backbone: weight file ${p} was not fetched`)
            return part
          }),
        )
        return [specs, concatBytes(...parts).buffer as ArrayBuffer]
      }),
  }
}
