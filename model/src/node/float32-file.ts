import { readFile } from 'node:fs/promises'

/**
 * A cached float32 array (an embedding, a split's embeddings), or null when the file is absent or
 * holds other than `count` values (foreign, truncated or of an older format): the caller then
 * computes it again rather than trusting it. Platform byte order: such caches never leave the machine.
 */
export async function readFloat32File(file: string, count: number): Promise<Float32Array | null> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
  if (bytes.byteLength !== count * 4) return null
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
}
