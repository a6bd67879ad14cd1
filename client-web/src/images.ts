import type { Pixels } from '@fedtune/model'

/**
 * A file's pixels as RGBA at its own size, decoded by the browser. No colour-space conversion and
 * no premultiplied alpha, so the samples are the file's own, as the Node client's decoder gives them.
 */
export async function decodeImage(file: File): Promise<Pixels> {
  let bitmap: ImageBitmap
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' })
  } catch (error) {
    throw new Error(
      `${file.webkitRelativePath || file.name}: cannot decode as an image (${(error as Error).message})`,
    )
  }
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height)
    const context = canvas.getContext('2d', { willReadFrequently: true })
    if (context === null) throw new Error('this browser gives no 2D canvas to read image pixels')
    context.drawImage(bitmap, 0, 0)
    const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height)
    return { width: bitmap.width, height: bitmap.height, channels: 4, data: new Uint8Array(data.buffer) }
  } finally {
    bitmap.close()
  }
}
