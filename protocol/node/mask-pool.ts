import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { Mask } from '../src/secagg/crypto.ts'
import { wordModuleBytes } from '../src/secagg/word-simd.ts'
import { LITTLE_ENDIAN } from '../src/secagg/words.ts'

/** Below this many words per thread, splitting a vector costs more in messages than it saves. */
const MIN_WORDS_PER_THREAD = 4096

/** The part of the WebAssembly JS API used here (ES2022's lib, without the DOM, declares none of it). */
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly
type WasmApi = {
  validate(bytes: Uint8Array): boolean
  Module: new (bytes: Uint8Array) => object
}

type Pending = { resolve: () => void; reject: (error: Error) => void }

type Thread = { readonly worker: Worker; readonly pending: Map<number, Pending> }

/**
 * Worker threads that add batches of AES-128-CTR masks into a vector (mask-worker.js), each thread
 * owning one contiguous range of the words — CTR lets a thread start its keystream at any block.
 * This is where a round's cost lies: the coordinator removes one self-mask per survivor and about
 * k pair masks per dropout, each a full model-sized keystream. Fused in cache-sized chunks, and on
 * every core, it runs at the speed of AES-NI rather than of memory; the event loop stays free for
 * sockets meanwhile.
 *
 * Threads start on first use and are unreferenced while idle, so an idle pool never keeps a
 * process alive. A thread that dies rejects what it was given (the round then fails with the
 * reason) and is replaced on the next call.
 */
export class MaskPool {
  readonly size: number
  readonly #threads: (Thread | undefined)[]
  #module: object | undefined
  #nextId = 0

  constructor(size = Math.min(availableParallelism(), 8)) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`MaskPool: expected a thread count ≥ 1, got ${size}`)
    this.size = size
    this.#threads = Array.from({ length: size }, () => undefined)
  }

  /** Whether this host can run the pool: WebAssembly SIMD and little-endian words (every current Node host). */
  static supported(): boolean {
    return LITTLE_ENDIAN && typeof wasm?.validate === 'function' && wasm.validate(wordModuleBytes())
  }

  /** acc ← acc + Σ sign · keystream(key) mod 2^32 over `masks` (checked by the caller), in place. */
  async apply(acc: Uint32Array, masks: readonly Mask[]): Promise<void> {
    if (masks.length === 0 || acc.length === 0) return
    const words = new Uint32Array(new SharedArrayBuffer(acc.byteLength))
    words.set(acc)
    const keys = new Uint8Array(16 * masks.length)
    const signs = new Int8Array(masks.length)
    for (const [m, { key, sign }] of masks.entries()) {
      keys.set(key, 16 * m)
      signs[m] = sign
    }
    try {
      await Promise.all(
        ranges(acc.length, this.size).map(([lo, hi], i) => this.#run(i, { words, lo, hi, keys, signs })),
      )
    } finally {
      keys.fill(0)
    }
    acc.set(words)
  }

  /** Stops every thread; a later `apply` starts them again. */
  async close(): Promise<void> {
    const threads = this.#threads.filter((t) => t !== undefined)
    this.#threads.fill(undefined)
    await Promise.all(threads.map((t) => t.worker.terminate()))
  }

  #run(
    index: number,
    job: { words: Uint32Array; lo: number; hi: number; keys: Uint8Array; signs: Int8Array },
  ): Promise<void> {
    const thread = this.#threads[index] ?? this.#start(index)
    const id = this.#nextId++
    return new Promise<void>((resolve, reject) => {
      if (thread.pending.size === 0) thread.worker.ref()
      thread.pending.set(id, { resolve, reject })
      thread.worker.postMessage({ id, ...job })
    })
  }

  #start(index: number): Thread {
    this.#module ??= new wasm.Module(wordModuleBytes())
    const worker = new Worker(new URL('./mask-worker.js', import.meta.url), {
      workerData: { module: this.#module },
    })
    const thread: Thread = { worker, pending: new Map() }
    worker.unref()
    const settle = (id: number, error?: string) => {
      const pending = thread.pending.get(id)
      if (pending === undefined) return
      thread.pending.delete(id)
      if (thread.pending.size === 0) worker.unref()
      if (error === undefined) pending.resolve()
      else pending.reject(new Error(`mask thread ${index}: ${error}`))
    }
    const die = (why: string) => {
      if (this.#threads[index] === thread) this.#threads[index] = undefined
      for (const id of [...thread.pending.keys()]) settle(id, why)
    }
    worker.on('message', ({ id, error }: { id: number; error?: string }) => settle(id, error))
    worker.on('error', (error) => die(error.message))
    worker.on('exit', (code) => die(`exited with code ${code}`))
    this.#threads[index] = thread
    return thread
  }
}

/**
 * [lo, hi) word ranges, one per thread, as equal as whole AES blocks (4 words) allow; fewer threads
 * for short vectors.
 */
export function ranges(words: number, threads: number): [number, number][] {
  const count = Math.max(1, Math.min(threads, Math.floor(words / MIN_WORDS_PER_THREAD)))
  const blocks = Math.ceil(words / 4)
  const out: [number, number][] = []
  for (let i = 0; i < count; i++) {
    const lo = Math.floor((blocks * i) / count) * 4
    const hi = Math.min(words, Math.floor((blocks * (i + 1)) / count) * 4)
    if (hi > lo) out.push([lo, hi])
  }
  return out
}

let shared: MaskPool | null | undefined

/** The process's pool (one thread per core, up to 8), or null where the host cannot run it. */
export function maskPool(): MaskPool | null {
  shared ??= MaskPool.supported() ? new MaskPool() : null
  return shared
}
