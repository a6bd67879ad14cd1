import type { Backbone, Pixels } from '@fedtune/model'
import { embed } from '@fedtune/model'

/**
 * Images per second through `embed` (preprocessing included) on a fixed sample, after one warm-up
 * batch: the first call compiles kernels and allocates, which a long embedding run pays once.
 */
export function embeddingThroughput(
  backbone: Backbone,
  sample: readonly Pixels[],
  warmUp: readonly Pixels[],
): number {
  embed(backbone, warmUp)
  const started = performance.now()
  embed(backbone, sample)
  return sample.length / ((performance.now() - started) / 1000)
}
