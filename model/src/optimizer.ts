import type { TrainingSettings } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'

/**
 * A head optimizer over plain tensors: `step` returns the updated parameters (the caller disposes
 * the old ones); the optimizer owns its moment estimates until `dispose`.
 */
export type Optimizer = {
  step(params: readonly tf.Tensor[], grads: readonly tf.Tensor[]): tf.Tensor[]
  dispose(): void
}

export function createOptimizer(settings: Pick<TrainingSettings, 'optimizer' | 'learningRate'>): Optimizer {
  const lr = settings.learningRate
  if (settings.optimizer === 'sgd')
    return {
      step: (params, grads) =>
        tf.tidy(() => params.map((w, i) => tf.sub(w, tf.mul(grads[i] as tf.Tensor, lr)))),
      dispose: () => {},
    }
  return adam(lr)
}

/**
 * Adam (Kingma & Ba, ICLR 2015, Algorithm 1) with tfjs/Keras defaults β1 0.9, β2 0.999, ε 1e-7:
 * w ← w − lr·m̂/(√v̂ + ε), m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ).
 */
function adam(lr: number): Optimizer {
  const beta1 = 0.9
  const beta2 = 0.999
  const epsilon = 1e-7
  let m: tf.Tensor[] = []
  let v: tf.Tensor[] = []
  let t = 0
  return {
    step(params, grads) {
      t++
      if (m.length === 0) {
        m = params.map((w) => tf.zerosLike(w))
        v = params.map((w) => tf.zerosLike(w))
      }
      const c1 = 1 - beta1 ** t
      const c2 = 1 - beta2 ** t
      const [nextM, nextV, nextW] = tf.tidy(() => {
        const nm = params.map((_, i) =>
          tf.add(tf.mul(m[i] as tf.Tensor, beta1), tf.mul(grads[i] as tf.Tensor, 1 - beta1)),
        )
        const nv = params.map((_, i) =>
          tf.add(tf.mul(v[i] as tf.Tensor, beta2), tf.mul(tf.square(grads[i] as tf.Tensor), 1 - beta2)),
        )
        const nw = params.map((w, i) => {
          const mHat = tf.div(nm[i] as tf.Tensor, c1)
          const vHat = tf.div(nv[i] as tf.Tensor, c2)
          return tf.sub(w, tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), epsilon)), lr))
        })
        return [nm, nv, nw]
      })
      tf.dispose([...m, ...v])
      m = nextM
      v = nextV
      return nextW
    },
    dispose() {
      tf.dispose([...m, ...v])
      m = []
      v = []
    },
  }
}
