import { type Backbone, type Dataset, embed } from '@fedtune/model'
import type { ImageView } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import { decodeImage } from './images.ts'
import type { LabelledFile } from './label-folder.ts'
import { useWasm } from './wasm-backend.ts'

export type BackendName = 'webgl' | 'wasm'

/** Renderers that draw WebGL on the CPU: there the backbone runs ~9× faster on WebAssembly (bench:browser). */
const SOFTWARE_RENDERER = /swiftshader|llvmpipe|softpipe|software/i

/** The WebGL renderer's name (WEBGL_debug_renderer_info), or null where WebGL or the extension is missing. */
export function webglRenderer(): string | null {
  const gl = new OffscreenCanvas(1, 1).getContext('webgl2') ?? new OffscreenCanvas(1, 1).getContext('webgl')
  if (gl === null) return null
  const info = gl.getExtension('WEBGL_debug_renderer_info')
  return info === null ? null : String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL))
}

/**
 * Sets up tfjs for the backbone: WebGL where the browser has a GPU for it, else WebAssembly (SIMD,
 * one thread) — also where WebGL is only a software renderer (SwiftShader, llvmpipe: a machine
 * without a GPU), which is slower than WebAssembly. `prefer` forces one (tests, the benchmark).
 * Returns the backend in use and, after a fallback, why.
 */
export async function initEmbeddingBackend(
  prefer?: BackendName,
): Promise<{ backend: BackendName; note: string }> {
  let note = ''
  const renderer = prefer === undefined ? webglRenderer() : null
  if (renderer !== null && SOFTWARE_RENDERER.test(renderer))
    note = `WebGL here is a software renderer (${renderer.replace(/\s*\(0x[0-9A-Fa-f]+\)/g, '')}), slower than WebAssembly`
  else if (prefer !== 'wasm') {
    try {
      if (await tf.setBackend('webgl')) {
        await tf.ready()
        return { backend: 'webgl', note: '' }
      }
      note = 'WebGL did not initialise'
    } catch (error) {
      note = `WebGL failed (${(error as Error).message})`
    }
    if (prefer === 'webgl') throw new Error(`embedding: ${note}`)
  }
  let wasm: string
  try {
    wasm = await useWasm()
  } catch (error) {
    throw new Error(
      `embedding: neither WebGL nor WebAssembly works here: ${(error as Error).message}${note ? `; ${note}` : ''}`,
    )
  }
  return { backend: 'wasm', note: `${note ? `${note}; ` : ''}${wasm}` }
}

/** Images decoded and embedded per step: the page repaints between steps. */
const STEP = 8

/**
 * The chosen images as a Dataset of embeddings: decoded, then passed through the frozen backbone
 * STEP at a time, yielding to the page between steps so the progress bar moves and Stop responds.
 * Each embedding is the mean over the task's `views` of the image (as the Node client's, model's
 * embed). `signal` aborts between steps.
 */
export async function embedImages(
  backbone: Backbone,
  views: readonly ImageView[],
  images: readonly LabelledFile[],
  onProgress: (done: number, total: number) => void,
  signal: AbortSignal,
): Promise<Dataset> {
  const dim = backbone.embeddingDim
  const x = new Float32Array(images.length * dim)
  const y = new Int32Array(images.length)
  for (let start = 0; start < images.length; start += STEP) {
    signal.throwIfAborted()
    const step = images.slice(start, start + STEP)
    const pixels = await Promise.all(step.map(({ file }) => decodeImage(file)))
    x.set(embed(backbone, pixels, views), start * dim)
    step.forEach(({ label }, i) => {
      y[start + i] = label
    })
    onProgress(start + step.length, images.length)
    await tf.nextFrame()
  }
  return { x, y, n: images.length, dim }
}
