import { type ImageView, ORIGINAL_ONLY, sameViews } from '@fedtune/protocol'

/** How the page names each view (protocol/src/image-views.ts) to a volunteer. */
const SAID: Record<ImageView, string> = {
  original: 'as it is',
  'horizontal-flip': 'mirrored left to right',
  'vertical-flip': 'upside down',
  'rotate-180': 'turned half a turn',
  transpose: 'mirrored in its diagonal',
  'rotate-90': 'turned a quarter turn clockwise',
  'rotate-270': 'turned a quarter turn anticlockwise',
  transverse: 'mirrored in its other diagonal',
}

/**
 * What a task's views mean for the volunteer's machine, said where the page describes the work:
 * null for the original alone (one pass of the backbone per image, nothing to say), the same rule as
 * the Node tools' viewsNote.
 */
export function viewsLine(views: readonly ImageView[]): string | null {
  if (sameViews(views, ORIGINAL_ONLY)) return null
  const said = views.map((v) => SAID[v])
  if (said.length === 1) return `each image is embedded ${said[0]}, and the head learns from that embedding`
  const list = `${said.slice(0, -1).join(', ')} and ${said.at(-1)}`
  return `each image is embedded ${views.length} times (${list}) and the head learns from the mean of those embeddings: embedding takes ${views.length}× as long as with one view`
}
