import { describe } from './describe.ts'
import { ProtocolError } from './errors.ts'

/**
 * The views of an image the backbone sees, whose embeddings are averaged into the one the head
 * reads (`backbone.views` in the task file): the image as it is, mirrored left–right, upside down,
 * and both (a half turn); then the same four of its transpose (mirrored in the main diagonal, top
 * left to bottom right): the transpose, turned a quarter turn clockwise (the transpose mirrored
 * left–right), a quarter turn anticlockwise (the transpose upside down), and mirrored in the other
 * diagonal (the transpose turned a half turn). All eight are the symmetries of a square. Each view
 * is applied to the backbone's square input, after the resize (which is symmetric, so it equals
 * transforming the source image). The averaged embedding is the same for an image and its mirror
 * image when both flips are in the list, and for every turn and mirror image of it with all eight:
 * a head reads what the image shows, not which way it faces. Listed in this order; an embedding is
 * the mean taken in this order.
 */
export const IMAGE_VIEWS = [
  'original',
  'horizontal-flip',
  'vertical-flip',
  'rotate-180',
  'transpose',
  'rotate-90',
  'rotate-270',
  'transverse',
] as const

export type ImageView = (typeof IMAGE_VIEWS)[number]

/** The default: the image as it is, one pass of the backbone. */
export const ORIGINAL_ONLY: readonly ImageView[] = ['original']

/**
 * A list of views as a task sends it: non-empty, each one of IMAGE_VIEWS, no repeats, in IMAGE_VIEWS's
 * order (so one set of views has one spelling, and every participant averages in the same order).
 */
export function parseImageViews(value: unknown, where: string): readonly ImageView[] {
  const expected = `a non-empty list of distinct views from ${IMAGE_VIEWS.map((v) => `"${v}"`).join(', ')}, in that order`
  if (!Array.isArray(value) || value.length === 0 || value.length > IMAGE_VIEWS.length)
    throw new ProtocolError('malformed', `${where}: expected ${expected}, got ${describe(value)}`)
  let last = -1
  return Array.from(value as unknown[], (v, i) => {
    const at = IMAGE_VIEWS.indexOf(v as ImageView)
    if (at < 0)
      throw new ProtocolError(
        'malformed',
        `${where}[${i}]: expected one of ${IMAGE_VIEWS.map((x) => `"${x}"`).join(', ')}, got ${describe(v)}`,
      )
    if (at <= last)
      throw new ProtocolError('malformed', `${where}: expected ${expected}, got ${describe(value)}`)
    last = at
    return IMAGE_VIEWS[at] as ImageView
  })
}

/** Whether two lists of views are the same (a resumed participant's cache, a run's task). */
export function sameViews(a: readonly ImageView[], b: readonly ImageView[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}
