import type { NpyArray } from './npy.ts'
import { readNpy } from './npy.ts'
import { readZip } from './zip.ts'

/**
 * Reads a numpy `.npz` (a zip of `.npy` files, as `np.savez`/`np.savez_compressed` write it) into
 * arrays keyed like numpy's `np.load(...)[key]`: the entry name without its `.npy` suffix.
 */
export function readNpz(bytes: Uint8Array, source = 'npz'): Map<string, NpyArray> {
  const arrays = new Map<string, NpyArray>()
  for (const [name, data] of readZip(bytes, source)) {
    if (name.endsWith('/')) continue
    const key = name.endsWith('.npy') ? name.slice(0, -'.npy'.length) : name
    arrays.set(key, readNpy(data, `${source}: entry ${name}`))
  }
  return arrays
}
