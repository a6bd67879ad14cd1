import { LITTLE_ENDIAN } from './words.ts'

/**
 * Element-wise addition and subtraction of uint32 words mod 2^32 with WebAssembly SIMD (i32x4.add,
 * i32x4.sub: four lanes that wrap like Uint32Array stores). Masking is one such pass per mask over the
 * whole model, and scalar JavaScript takes 2–5 ns a word where this takes well under one, copies in
 * and out included. WebAssembly is an ECMAScript-embedder global present in Node and every browser
 * with SIMD since 2021; where it or SIMD is missing, or on a big-endian host (the operands are
 * copied in host order, WebAssembly reads little-endian words), {@link wordKernel} returns null and
 * the caller runs its scalar loop, which computes the same words.
 */
export type WordKernel = {
  /** acc ← acc + v mod 2^32, element-wise; the lengths must be equal (the caller checks). */
  add(acc: Uint32Array, v: Uint32Array): void
  /** acc ← acc − v mod 2^32, element-wise. */
  sub(acc: Uint32Array, v: Uint32Array): void
  /**
   * acc ← acc + the little-endian words in `bytes` (4·acc.length of them, at any offset): WebAssembly
   * memory is little-endian, so the bytes are copied in as they came, with no aligned copy first.
   */
  addBytes(acc: Uint32Array, bytes: Uint8Array): void
  /** acc ← acc − the little-endian words in `bytes`. */
  subBytes(acc: Uint32Array, bytes: Uint8Array): void
}

/** Words per operand per call: two 64 KiB operands fill the module's two pages and stay in L2. */
const CHUNK = 16_384

/**
 * The module, hand-assembled (WebAssembly Core Spec 2.0 §5, SIMD opcodes 0xfd): memory of 2 pages
 * exported as "mem", and add/sub(acc, v, bytes), each looping over bytes in 16-byte steps:
 *   store(acc + i, i32x4.op(load(acc + i), load(v + i))).
 */
function body(op: number): number[] {
  // biome-ignore format: one instruction per line, commented
  return [
    0x01, 0x01, 0x7f, // one local: i (i32)
    0x02, 0x40, 0x03, 0x40, // block, loop
    0x20, 0x03, 0x20, 0x02, 0x4f, 0x0d, 0x01, // br_if out when i >= bytes (unsigned)
    0x20, 0x00, 0x20, 0x03, 0x6a, // address acc + i
    0x20, 0x00, 0x20, 0x03, 0x6a, 0xfd, 0x00, 0x00, 0x00, // v128.load acc + i
    0x20, 0x01, 0x20, 0x03, 0x6a, 0xfd, 0x00, 0x00, 0x00, // v128.load v + i
    0xfd, op, 0x01, // i32x4.add (0xae) or i32x4.sub (0xb1), LEB128
    0xfd, 0x0b, 0x00, 0x00, // v128.store
    0x20, 0x03, 0x41, 0x10, 0x6a, 0x21, 0x03, // i += 16
    0x0c, 0x00, 0x0b, 0x0b, 0x0b, // br loop, end loop, end block, end func
  ]
}

/**
 * The module's bytes. Exported so that native Node code (protocol/node's mask workers) can run the
 * same two loops on memory it grows to a whole vector range.
 */
export function wordModuleBytes(): Uint8Array {
  const add = body(0xae)
  const sub = body(0xb1)
  const code = [0x02, add.length, ...add, sub.length, ...sub]
  // biome-ignore format: one instruction per line, commented
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, // type: (i32 i32 i32) -> ()
    0x03, 0x03, 0x02, 0x00, 0x00, // two functions of that type
    0x05, 0x03, 0x01, 0x00, 0x02, // memory: min 2 pages
    0x07, 0x13, 0x03, // exports: mem, add, sub
    0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00,
    0x03, 0x61, 0x64, 0x64, 0x00, 0x00,
    0x03, 0x73, 0x75, 0x62, 0x00, 0x01,
    0x0a, code.length, ...code,
  ])
}

/** The part of the WebAssembly JS API used here; protocol/src has no DOM or Node lib. */
type WasmApi = {
  validate(bytes: Uint8Array): boolean
  Module: new (bytes: Uint8Array) => unknown
  Instance: new (module: unknown) => { readonly exports: Record<string, unknown> }
}
type Exports = {
  mem: { readonly buffer: ArrayBuffer }
  add: (acc: number, v: number, bytes: number) => void
  sub: (acc: number, v: number, bytes: number) => void
}

let cached: WordKernel | null | undefined

/** The SIMD kernel, compiled once (synchronously: the module is 165 bytes), or null where unsupported. */
export function wordKernel(): WordKernel | null {
  if (cached !== undefined) return cached
  const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly
  const bytes = wordModuleBytes()
  if (wasm === undefined || !LITTLE_ENDIAN || !wasm.validate(bytes)) {
    cached = null
    return cached
  }
  const exports = new wasm.Instance(new wasm.Module(bytes)).exports as Exports
  const heap = new Uint32Array(exports.mem.buffer, 0, 2 * CHUNK)
  const heapBytes = new Uint8Array(exports.mem.buffer, 0, 2 * CHUNK * 4)
  const run = (op: Exports['add'], acc: Uint32Array, v: Uint32Array | Uint8Array) => {
    for (let at = 0; at < acc.length; at += CHUNK) {
      const n = Math.min(CHUNK, acc.length - at)
      heap.set(acc.subarray(at, at + n), 0)
      if (v instanceof Uint8Array) heapBytes.set(v.subarray(at * 4, (at + n) * 4), CHUNK * 4)
      else heap.set(v.subarray(at, at + n), CHUNK)
      // Rounded up to whole lanes: the words past n are stale and never copied back.
      op(0, CHUNK * 4, Math.ceil(n / 4) * 16)
      acc.set(heap.subarray(0, n), at)
    }
  }
  cached = {
    add: (acc, v) => run(exports.add, acc, v),
    sub: (acc, v) => run(exports.sub, acc, v),
    addBytes: (acc, bytes) => run(exports.add, acc, bytes),
    subBytes: (acc, bytes) => run(exports.sub, acc, bytes),
  }
  return cached
}
