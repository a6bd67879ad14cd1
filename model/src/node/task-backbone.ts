import type { BackboneFile } from '@fedtune/protocol'
import type { Backbone } from '../backbone.ts'
import { loadBackbone, readBackboneFolder } from './backbone-folder.ts'
import { fetchBackboneFromUrl, readBackboneUrl } from './download-backbone.ts'

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
  const dir = isBackboneUrl(source) ? await fetchBackboneFromUrl(source, cacheDir, sha256) : source
  return { dir, backbone: await loadBackbone(dir, sha256) }
}

/** Whether a task file's backbone.source names a model.json by URL (else it is a folder). */
export function isBackboneUrl(source: string): boolean {
  return /^https?:\/\//.test(source)
}

/**
 * The files and digest of the backbone `source` names, as backbone.sha256 must say: a folder read
 * here, or a model.json URL fetched once and kept nowhere (`fedtune backbone digest`, `task init`).
 */
export function readBackboneSource(source: string): Promise<{ files: BackboneFile[]; digest: string }> {
  return isBackboneUrl(source) ? readBackboneUrl(source) : readBackboneFolder(source)
}
