import * as tf from '@tensorflow/tfjs'
import { checkPixels, type Pixels } from './pixels.ts'

/**
 * Images → the MobileNet input batch [n, s, s, 3]: gray repeated over RGB, alpha dropped, bilinear
 * resize with half-pixel centers (TF2 `tf.image.resize`, so a 28×28 X-ray is not shifted by the
 * legacy corner alignment), then x/127.5 − 1, the range the Keras MobileNets were trained on.
 */
export function preprocess(images: readonly Pixels[], inputSize: number): tf.Tensor4D {
  if (!Number.isInteger(inputSize) || inputSize < 1)
    throw new Error(`preprocess: expected a positive integer inputSize, got ${inputSize}`)
  if (images.length === 0) throw new Error('preprocess: expected at least one image')
  for (const [i, p] of images.entries()) checkPixels(p, `preprocess: image ${i}`)
  return tf.tidy(() => {
    const resized = images.map((p) => {
      const raw = tf.tensor3d(p.data, [p.height, p.width, p.channels], 'int32').toFloat()
      const rgb =
        p.channels === 1
          ? tf.tile(raw, [1, 1, 3])
          : p.channels === 4
            ? tf.slice(raw, [0, 0, 0], [-1, -1, 3])
            : raw
      if (p.width === inputSize && p.height === inputSize) return rgb as tf.Tensor3D
      return tf.image.resizeBilinear(rgb as tf.Tensor3D, [inputSize, inputSize], false, true)
    })
    return tf.stack(resized).div(127.5).sub(1) as tf.Tensor4D
  })
}
