// One thread of the mask pool (mask-pool.ts): adds signed AES-128-CTR keystreams into a range of
// a shared vector, and runs batches of X25519 agreements. Plain JavaScript because a worker thread starts in bare Node, without the
// TypeScript loader of the thread that spawned it.
//
// Fused and cache-sized: each mask's keystream is produced 64 KiB at a time and at once added into
// the range, which stays in this thread's WebAssembly memory for the whole batch, so no
// model-sized keystream is ever written to memory and read back. The SIMD loops are those of
// protocol/src/secagg/word-simd.ts, compiled once by the pool and passed in as workerData.module.
import { createCipheriv, createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto'
import { parentPort, workerData } from 'node:worker_threads'

const CHUNK_BYTES = 65_536
const PAGE_BYTES = 65_536
const zeros = new Uint8Array(CHUNK_BYTES)
/**
 * The last keystream chunks, kept referenced. Every `cipher.update` returns a fresh 64 KiB buffer;
 * when the garbage collector frees a run of them at once, the allocator returns the emptied top of
 * this thread's heap to the kernel, and the next chunks fault those pages back in, zero-filled by
 * the kernel. With a few chunks always alive the freed ones are reused in place instead: a tight
 * update loop on two threads took 4.8 page faults per chunk without this and 0.85 with it, and
 * unmasking n = 100, d = 328,453 at 10 % dropout went from 231 ms to 139–154 ms (bench:secagg,
 * paired runs). 16 chunks: 1 MiB per thread.
 */
const RECENT_CHUNKS = 16
const recent = new Array(RECENT_CHUNKS)
let recentAt = 0
const { exports: wasm } = new WebAssembly.Instance(workerData.module)

/**
 * The 16-byte counter block of AES block `index`: a 128-bit big-endian counter, as the keystream's
 * (the same as protocol/src/secagg/webcrypto-masks.ts's counterBlock, which this plain-JS thread cannot import).
 */
function counterBlock(index) {
  const block = new Uint8Array(16)
  let rest = index
  for (let i = 15; i >= 8 && rest > 0; i--) {
    block[i] = rest % 256
    rest = Math.floor(rest / 256)
  }
  return block
}

/** Memory for the keystream chunk, then the range, plus one lane the last SIMD step may touch. */
function reserve(bytes) {
  const have = wasm.mem.buffer.byteLength
  if (have < bytes) wasm.mem.grow(Math.ceil((bytes - have) / PAGE_BYTES))
}

/**
 * words[lo, hi) ← words[lo, hi) + Σ signs[m] · keystream(keys[16m, 16m + 16))[lo, hi) mod 2^32.
 * lo is a multiple of 4 words, so the range starts on an AES block boundary (block lo / 4).
 */
function apply({ words, lo, hi, keys, signs }) {
  const bytes = (hi - lo) * 4
  const at = CHUNK_BYTES
  reserve(at + bytes + 16)
  const memory = new Uint8Array(wasm.mem.buffer)
  new Uint32Array(wasm.mem.buffer, at, hi - lo).set(words.subarray(lo, hi))
  const counter = counterBlock(lo / 4)
  for (let m = 0; m < signs.length; m++) {
    const cipher = createCipheriv('aes-128-ctr', keys.subarray(16 * m, 16 * m + 16), counter)
    const op = signs[m] === 1 ? wasm.add : wasm.sub
    for (let offset = 0; offset < bytes; offset += CHUNK_BYTES) {
      const length = Math.min(CHUNK_BYTES, bytes - offset)
      const stream = cipher.update(zeros.subarray(0, length))
      memory.set(stream, 0)
      recent[recentAt] = stream
      recentAt = (recentAt + 1) % RECENT_CHUNKS
      // Whole 16-byte lanes: past the range's end the words are scratch and never copied out.
      op(at + offset, 0, Math.ceil(length / 16) * 16)
    }
    cipher.final()
  }
  words.subarray(lo, hi).set(new Uint32Array(wasm.mem.buffer, at, hi - lo))
}

/** Unpadded base64url (RFC 4648 §5), as JWK carries key bytes. */
function base64url(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

/**
 * X25519(secretKey, p) for each 32-byte p in `publicKeys`, concatenated; the keys are imported
 * through JWK with an empty `x`, as protocol/node/crypto.ts's privateKey does (see why there). A
 * low-order peer gives 32 zero bytes, which the caller refuses. The secret key's bytes are zeroed
 * once imported.
 */
function agree({ secretKey, publicKeys }) {
  const key = createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', d: base64url(secretKey), x: '' },
    format: 'jwk',
  })
  secretKey.fill(0)
  const shared = new Uint8Array(publicKeys.length)
  for (let at = 0; at < publicKeys.length; at += 32) {
    const peer = createPublicKey({
      key: { kty: 'OKP', crv: 'X25519', x: base64url(publicKeys.subarray(at, at + 32)) },
      format: 'jwk',
    })
    try {
      shared.set(diffieHellman({ privateKey: key, publicKey: peer }), at)
    } catch (error) {
      // OpenSSL refuses to derive an all-zero secret (RFC 7748 §6.1): left zero, for the caller to refuse.
      if (error?.code !== 'ERR_OSSL_FAILED_DURING_DERIVATION') throw error
    }
  }
  return shared
}

parentPort.on('message', (job) => {
  try {
    if (job.kind === 'agree') {
      const shared = agree(job)
      parentPort.postMessage({ id: job.id, shared }, [shared.buffer])
      return
    }
    apply(job)
    parentPort.postMessage({ id: job.id })
  } catch (error) {
    parentPort.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) })
  }
})
