import path from 'node:path'
import { type ImageView, ORIGINAL_ONLY, sameViews } from '@fedtune/protocol'

/**
 * The folder of the cached embeddings of one backbone and one list of views:
 * cacheDir/embeddings/<digest> for the original only (where caches written before views existed
 * lie, so they stay valid), else cacheDir/embeddings/<digest>/<viewsKey>, holding the averaged
 * embeddings. A cache never serves an embedding taken with other views than those asked for.
 */
export function embeddingCacheDir(cacheDir: string, digest: string, views: readonly ImageView[]): string {
  const key = viewsKey(views)
  return key === null
    ? path.join(cacheDir, 'embeddings', digest)
    : path.join(cacheDir, 'embeddings', digest, key)
}

/**
 * "views-original+horizontal-flip": the subfolder of a list of views other than the original alone,
 * or null for it. Views are spelled in IMAGE_VIEWS's order (parseImageViews), so one set has one key;
 * the "views-" prefix keeps it apart from the 64-hex-digit file names beside it.
 */
export function viewsKey(views: readonly ImageView[]): string | null {
  if (views.length === 0) throw new Error('viewsKey: expected at least one view')
  return sameViews(views, ORIGINAL_ONLY) ? null : `views-${views.join('+')}`
}
