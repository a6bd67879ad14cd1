import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { Mask } from '../src/secagg/crypto.ts'
import { wordModuleBytes } from '../src/secagg/word-simd.ts'
import { LITTLE_ENDIAN } from '../src/secagg/words.ts'

/** Below this many words per thread, splitting a vector costs more in messages than it saves. */
const MIN_WORDS_PER_THREAD = 4096

/** Below this many agreements per thread, a message to a thread costs more than it saves. */
const MIN_AGREEMENTS_PER_THREAD = 4

/** The part of the WebAssembly JS API used here (ES2022's lib, without the DOM, declares none of it). */
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly
type WasmApi = {
  validate(bytes: Uint8Array): boolean
  Module: new (bytes: Uint8Array) => object
}

/** What a thread answers: nothing for a batch of masks, the shared secrets for a batch of agreements. */
type Reply = { readonly shared?: Uint8Array }

type Pending = { resolve: (reply: Reply) => void; reject: (error: Error) => void }

type MaskJob = {
  readonly kind: 'masks'
  readonly words: Uint32Array
  readonly lo: number
  readonly hi: number
  readonly keys: Uint8Array
  readonly signs: Int8Array
}

type AgreeJob = { readonly kind: 'agree'; readonly secretKey: Uint8Array; readonly publicKeys: Uint8Array }

type Thread = { readonly worker: Worker; readonly pending: Map<number, Pending> }

/**
 * Worker threads that add batches of AES-128-CTR masks into a vector (mask-worker.js), each thread
 * owning one contiguous range of the words — CTR lets a thread start its keystream at any block.
 * This is where a round's cost lies: the coordinator removes one self-mask per survivor and about
 * k pair masks per dropout, each a full model-sized keystream. Fused in cache-sized chunks, and on
 * every core, it runs at the speed of AES-NI rather than of memory; the event loop stays free for
 * sockets meanwhile. The same threads run the coordinator's batches of X25519 agreements (`agree`),
 * the other half of unmasking a round with dropouts.
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
        ranges(acc.length, this.size).map(([lo, hi], i) =>
          this.#run(i, { kind: 'masks', words, lo, hi, keys, signs }),
        ),
      )
    } finally {
      keys.fill(0)
    }
    acc.set(words)
  }

  /**
   * X25519(secretKey, p) for each p (32 bytes each, checked by the caller), in order, the public keys
   * split across the threads: the coordinator agrees a dropped participant's reconstructed key with
   * each of its surviving neighbours (about 65 µs each through node:crypto), a thousand or more
   * agreements in a round with many dropouts. The secret key's copies are zeroed once imported.
   */
  async agree(secretKey: Uint8Array, publicKeys: readonly Uint8Array[]): Promise<Uint8Array[]> {
    if (publicKeys.length === 0) return []
    const slices = Math.min(this.size, Math.ceil(publicKeys.length / MIN_AGREEMENTS_PER_THREAD))
    const replies = await Promise.all(
      Array.from({ length: slices }, (_, i) => {
        const from = Math.floor((publicKeys.length * i) / slices)
        const to = Math.floor((publicKeys.length * (i + 1)) / slices)
        const packed = new Uint8Array(32 * (to - from))
        for (let j = from; j < to; j++) packed.set(publicKeys[j] as Uint8Array, 32 * (j - from))
        // A 32-byte copy of its own: structured clone copies a view's whole buffer. postMessage clones
        // it at once, and the thread zeroes its clone once imported.
        const own = secretKey.slice()
        const reply = this.#run(i, { kind: 'agree', secretKey: own, publicKeys: packed })
        own.fill(0)
        return reply
      }),
    )
    const out: Uint8Array[] = []
    for (const { shared } of replies) {
      if (shared === undefined)
        throw new Error('mask pool: a thread answered an agreement without its secrets')
      for (let at = 0; at < shared.length; at += 32) out.push(shared.slice(at, at + 32))
      shared.fill(0)
    }
    return out
  }

  /** Stops every thread; a later `apply` starts them again. */
  async close(): Promise<void> {
    const threads = this.#threads.filter((t) => t !== undefined)
    this.#threads.fill(undefined)
    await Promise.all(threads.map((t) => t.worker.terminate()))
  }

  #run(index: number, job: MaskJob | AgreeJob): Promise<Reply> {
    const thread = this.#threads[index] ?? this.#start(index)
    const id = this.#nextId++
    return new Promise<Reply>((resolve, reject) => {
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
    const settle = (id: number, error?: string, reply: Reply = {}) => {
      const pending = thread.pending.get(id)
      if (pending === undefined) return
      thread.pending.delete(id)
      if (thread.pending.size === 0) worker.unref()
      if (error === undefined) pending.resolve(reply)
      else pending.reject(new Error(`mask thread ${index}: ${error}`))
    }
    const die = (why: string) => {
      if (this.#threads[index] === thread) this.#threads[index] = undefined
      for (const id of [...thread.pending.keys()]) settle(id, why)
    }
    worker.on('message', ({ id, error, shared }: { id: number; error?: string; shared?: Uint8Array }) =>
      settle(id, error, shared === undefined ? {} : { shared }),
    )
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
