/** A decoded image: 8-bit samples, row-major, channels interleaved (gray, RGB or RGBA). */
export type Pixels = {
  readonly width: number
  readonly height: number
  readonly channels: 1 | 3 | 4
  readonly data: Uint8Array
}

/** Throws unless `data` holds exactly width·height·channels samples. */
export function checkPixels(p: Pixels, what: string): void {
  if (!Number.isInteger(p.width) || !Number.isInteger(p.height) || p.width < 1 || p.height < 1)
    throw new Error(`${what}: expected positive integer width and height, got ${p.width}x${p.height}`)
  if (p.channels !== 1 && p.channels !== 3 && p.channels !== 4)
    throw new Error(`${what}: expected 1, 3 or 4 channels, got ${String(p.channels)}`)
  const expected = p.width * p.height * p.channels
  if (!(p.data instanceof Uint8Array) || p.data.length !== expected)
    throw new Error(
      `${what}: expected ${expected} bytes for ${p.width}x${p.height}x${p.channels}, got ${p.data?.length ?? 'no data'}`,
    )
}
