import type { BackboneFile } from '@fedtune/protocol'
import type { Backbone } from '../backbone.ts'
import { loadBackbone } from './backbone-folder.ts'
import { fetchBackboneFromUrl } from './download-backbone.ts'

/**
 * A task file's backbone, loaded and checked against its SHA-256 digest, and the folder it was
 * loaded from: `source` is the URL of a model.json (fetched once into cacheDir/backbones/) or a
 * folder on this machine. The caller owns the backbone.
 */
export async function loadTaskBackbone(
  source: string,
  sha256: string,
  cacheDir: string,
): Promise<{
  readonly dir: string
  readonly backbone: Backbone & { digest: string; files: BackboneFile[] }
}> {
  const dir = /^https?:\/\//.test(source) ? await fetchBackboneFromUrl(source, cacheDir, sha256) : source
  return { dir, backbone: await loadBackbone(dir, sha256) }
}
