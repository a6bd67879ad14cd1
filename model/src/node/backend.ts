import { createRequire } from 'node:module'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'

export type BackendChoice = { readonly backend: string; readonly detail: string }

let chosen: Promise<BackendChoice> | undefined

/**
 * Picks the fastest backend available: tfjs-node (native TensorFlow) if it is installed and loads,
 * else the wasm backend. A performance choice only: both compute the same results. Idempotent.
 *
 * The wasm backend runs single-threaded under Node: tfjs-backend-wasm 4.22 reports no multithread
 * support when IS_NODE (tensorflow/tfjs#3830), and forcing the threaded build fails because its
 * pthread workers are blob: URLs, which Node's worker_threads refuse (ERR_WORKER_PATH).
 */
export function initBackend(): Promise<BackendChoice> {
  chosen ??= choose()
  return chosen
}

async function choose(): Promise<BackendChoice> {
  const native = '@tensorflow/tfjs-node'
  let whyNotNative: string
  try {
    await import(native)
    if (await tf.setBackend('tensorflow'))
      return { backend: 'tensorflow', detail: `${native} (native TensorFlow)` }
    whyNotNative = `${native} loaded but its backend did not initialise`
  } catch (error) {
    if (!isMissingModule(error)) throw error
    whyNotNative = `${native} is not installed or cannot load (${(error as Error).message.split('\n')[0]})`
  }
  const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm')
  const require = createRequire(import.meta.url)
  const dist = `${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'))}${path.sep}dist${path.sep}`
  setWasmPaths(dist)
  if (!(await tf.setBackend('wasm')))
    throw new Error(`initBackend: the wasm backend failed to initialise from ${dist}`)
  await tf.ready()
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean
  return {
    backend: 'wasm',
    detail: `wasm${simd ? ' with SIMD' : ''}, 1 thread; ${whyNotNative}; install ${native} for native speed`,
  }
}

/** Only a missing package or a native binding that fails to load falls back; any other error is a bug. */
function isMissingModule(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || code === 'ERR_DLOPEN_FAILED'
}
