import type { ImageView } from '@fedtune/protocol'

/** How the page names each view (protocol/src/image-views.ts) to a volunteer. */
const SAID: Record<ImageView, string> = {
  original: 'as it is',
  'horizontal-flip': 'mirrored left to right',
  'vertical-flip': 'upside down',
  'rotate-180': 'turned half a turn',
}

/**
 * What a task's views mean for the volunteer's machine, said where the page describes the work:
 * null for the original alone (one pass of the backbone per image, nothing to say).
 */
export function viewsLine(views: readonly ImageView[]): string | null {
  if (views.length < 2) return null
  const said = views.map((v) => SAID[v])
  const list = `${said.slice(0, -1).join(', ')} and ${said.at(-1)}`
  return `each image is embedded ${views.length} times (${list}) and the head learns from the mean of those embeddings: embedding takes ${views.length}× as long as with one view`
}
