import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runDataSplit } from 'fedtune/data'

/** ../shared beside the repository: the data sets and backbones (never copied into it). */
export const SHARED = fileURLToPath(new URL('../../shared/', import.meta.url))

/**
 * `fedtune data split` of PneumoniaMNIST into `out`: hospital-<i>/<label>/*.png, validation/<label>/*.png
 * and test/<label>/*.png, quietly: `hospitals` sites of `perHospital` images each (IID), a seeded
 * stratified `testLimit` of the test images and `valLimit` of the val images (default: all 524).
 */
export function splitPneumonia(
  out: string,
  split: {
    readonly hospitals: number
    readonly perHospital: number
    readonly testLimit: number
    readonly valLimit?: number
    readonly seed: number
  },
): Promise<void> {
  return runDataSplit(
    [
      '--dataset',
      join(SHARED, 'datasets', 'pneumoniamnist.npz'),
      '--out',
      out,
      '--hospitals',
      String(split.hospitals),
      '--per-hospital',
      String(split.perHospital),
      '--test-limit',
      String(split.testLimit),
      '--seed',
      String(split.seed),
      ...(split.valLimit === undefined ? [] : ['--val-limit', String(split.valLimit)]),
    ],
    { log: () => {} },
  )
}
