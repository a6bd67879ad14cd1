import * as tf from '@tensorflow/tfjs'
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm'
import plainWasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url'
import simdWasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url'
import threadedWasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url'

/**
 * Switches tfjs to its WebAssembly backend, from the .wasm files bundled with the page; says which
 * build runs. Also what the training worker runs on: the head's small matrix products gain nothing
 * from a GPU, and a software WebGL would cost seconds of shader compilation in the first round.
 */
export async function useWasm(): Promise<string> {
  setWasmPaths({
    'tfjs-backend-wasm.wasm': plainWasm,
    'tfjs-backend-wasm-simd.wasm': simdWasm,
    // Required in the map though never fetched: threads are off (below).
    'tfjs-backend-wasm-threaded-simd.wasm': threadedWasm,
  })
  // tfjs-backend-wasm 4.22's threaded build starts its pthreads from a script that names the
  // module by a global the bundler minifies away ("e is not defined" in every thread); the SIMD
  // build without threads is what runs reliably from a bundle.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false)
  if (!(await tf.setBackend('wasm'))) throw new Error('the WebAssembly backend did not initialise')
  await tf.ready()
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean
  return `WebAssembly${simd ? ' with SIMD' : ''}, 1 thread`
}
