import { type ImageView, ORIGINAL_ONLY, sameViews } from '@fedtune/protocol'

/**
 * The line saying that each image goes through the backbone once per view (the task's
 * `backbone.views`), or null for the original alone: embedding takes that many times as long.
 */
export function viewsNote(views: readonly ImageView[]): string | null {
  if (sameViews(views, ORIGINAL_ONLY)) return null
  return `each image is embedded in ${views.length} views (${views.join(', ')}): ${views.length} backbone passes per image, averaged into one embedding`
}
