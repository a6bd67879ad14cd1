import { randomBytes } from 'node:crypto'
import { applyMasks, type Mask, naclCrypto } from '@fedtune/protocol'
import { MaskPool, nodeCrypto } from '@fedtune/protocol/node'
import { afterAll, describe, expect, it } from 'vitest'
import { ranges } from '../../../protocol/node/mask-pool.ts'
import {
  type AesCtrSubtle,
  counterBlock,
  webCryptoApplyMasks,
} from '../../../protocol/src/secagg/webcrypto-masks.ts'

const random = (n: number) => new Uint8Array(randomBytes(n))
const randomWords = (n: number) => new Uint32Array(randomBytes(4 * n).buffer, 0, n)
const randomMasks = (count: number): Mask[] =>
  Array.from({ length: count }, (_, i) => ({ key: random(16), sign: i % 3 === 0 ? -1 : 1 }))

/** The definition: each keystream added or subtracted, word by word, in plain arithmetic. */
async function reference(acc: Uint32Array, masks: readonly Mask[]): Promise<Uint32Array> {
  const out = Uint32Array.from(acc)
  for (const { key, sign } of masks) {
    const stream = await nodeCrypto.keystream(key, acc.length)
    for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) + sign * (stream[i] as number)
  }
  return out
}

const pools: MaskPool[] = []
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()))
})

describe('applying a batch of masks', () => {
  it('gives the same words on every path: fused threads, WebCrypto keystreams, the definition', async () => {
    // Lengths around the 4-word AES block, the 16 K-word chunk and the split between threads.
    for (const words of [1, 3, 4, 5, 4095, 8192, 16_383, 16_385, 50_003, 131_072, 196_613]) {
      const acc = randomWords(words)
      const masks = randomMasks(7)
      const expected = await reference(acc, masks)
      const native = Uint32Array.from(acc)
      await nodeCrypto.applyMasks?.(native, masks)
      const web = Uint32Array.from(acc)
      await applyMasks(naclCrypto, web, masks)
      expect(Buffer.from(native.buffer).equals(Buffer.from(expected.buffer)), `node, ${words} words`).toBe(
        true,
      )
      expect(Buffer.from(web.buffer).equals(Buffer.from(expected.buffer)), `webcrypto, ${words} words`).toBe(
        true,
      )
    }
  })

  it('gives the same words whatever the number of threads', async () => {
    const acc = randomWords(70_001)
    const masks = randomMasks(5)
    const expected = await reference(acc, masks)
    for (const size of [1, 2, 3, 8]) {
      const pool = new MaskPool(size)
      pools.push(pool)
      const out = Uint32Array.from(acc)
      await pool.apply(out, masks)
      expect(Buffer.from(out.buffer).equals(Buffer.from(expected.buffer)), `${size} threads`).toBe(true)
    }
  })

  it('cancels: a mask added and then subtracted leaves the vector as it was', async () => {
    const acc = randomWords(33_333)
    const key = random(16)
    const out = Uint32Array.from(acc)
    await applyMasks(nodeCrypto, out, [
      { key, sign: 1 },
      { key, sign: -1 },
    ])
    expect(Buffer.from(out.buffer).equals(Buffer.from(acc.buffer))).toBe(true)
  })

  it('serves concurrent batches from many callers without mixing them up', async () => {
    const jobs = Array.from({ length: 12 }, () => ({ acc: randomWords(20_000), masks: randomMasks(3) }))
    const outs = jobs.map(({ acc }) => Uint32Array.from(acc))
    await Promise.all(jobs.map(({ masks }, i) => applyMasks(nodeCrypto, outs[i] as Uint32Array, masks)))
    for (const [i, { acc, masks }] of jobs.entries()) {
      const expected = await reference(acc, masks)
      expect(Buffer.from((outs[i] as Uint32Array).buffer).equals(Buffer.from(expected.buffer))).toBe(true)
    }
  })

  it('refuses a key of the wrong size or a sign other than ±1, naming the mask', async () => {
    const acc = new Uint32Array(8)
    await expect(applyMasks(nodeCrypto, acc, [{ key: random(32), sign: 1 }])).rejects.toThrow(
      /applyMasks: masks\[0\]\.key: expected 16 bytes/,
    )
    const badSign = { key: random(16), sign: 2 } as unknown as Mask
    await expect(applyMasks(naclCrypto, acc, [{ key: random(16), sign: 1 }, badSign])).rejects.toThrow(
      /masks\[1\]\.sign: expected 1 or -1, got number 2/,
    )
  })

  it('splits a vector into whole AES blocks, one range per thread, fewer for short vectors', () => {
    expect(ranges(3, 2)).toEqual([[0, 3]])
    expect(ranges(10_000, 2)).toEqual([
      [0, 5000],
      [5000, 10_000],
    ])
    expect(ranges(10_002, 4)).toEqual([
      [0, 5000],
      [5000, 10_002],
    ])
    for (const [lo, hi] of ranges(328_453, 3)) {
      expect(lo % 4).toBe(0)
      expect(hi).toBeGreaterThan(lo)
    }
    expect(ranges(328_453, 3).at(-1)?.[1]).toBe(328_453)
  })

  it('agrees X25519 across threads: the secrets of x25519Each, in order, for any count and thread count', async () => {
    const secret = random(32)
    const kept = Uint8Array.from(secret)
    for (const size of [1, 2, 3]) {
      const pool = new MaskPool(size)
      pools.push(pool)
      for (const count of [0, 1, 3, 4, 9, 41]) {
        const peers = Array.from({ length: count }, () => nodeCrypto.x25519Base(random(32)))
        const shared = await pool.agree(secret, peers)
        expect(
          shared.map((s) => Buffer.from(s).toString('hex')),
          `${count} peers, ${size} threads`,
        ).toEqual(nodeCrypto.x25519Each(secret, peers).map((s) => Buffer.from(s).toString('hex')))
      }
    }
    // Only the threads' copies of the secret key are zeroed, never the caller's.
    expect(secret).toEqual(kept)
  })

  it('agrees with a low-order peer as 32 zero bytes, which x25519All refuses', async () => {
    const pool = new MaskPool(2)
    pools.push(pool)
    const peers = [nodeCrypto.x25519Base(random(32)), new Uint8Array(32), nodeCrypto.x25519Base(random(32))]
    const shared = await pool.agree(random(32), peers)
    expect(shared[1]).toEqual(new Uint8Array(32))
    expect(shared[0]).not.toEqual(new Uint8Array(32))
    await expect(nodeCrypto.x25519All?.(random(32), peers)).rejects.toThrow(/all zero .*low-order point/)
  })

  it('rejects, never hangs, when a thread dies, and replaces the thread', async () => {
    const pool = new MaskPool(1)
    pools.push(pool)
    const acc = randomWords(10_000)
    await pool.apply(Uint32Array.from(acc), randomMasks(1))
    // A worker that is terminated under a running batch: the batch must fail with the reason.
    const running = pool.apply(Uint32Array.from(acc), randomMasks(400))
    await pool.close()
    await expect(running).rejects.toThrow(/mask thread 0: exited/)
    // Agreements as well: the batch fails with the reason.
    const agreeing = pool.agree(
      random(32),
      Array.from({ length: 400 }, () => nodeCrypto.x25519Base(random(32))),
    )
    await pool.close()
    await expect(agreeing).rejects.toThrow(/mask thread 0: exited/)
    const out = Uint32Array.from(acc)
    const masks = randomMasks(2)
    await pool.apply(out, masks)
    expect(Buffer.from(out.buffer).equals(Buffer.from((await reference(acc, masks)).buffer))).toBe(true)
  })
})

/** Node's own WebCrypto, which the volunteer page's code also runs on under test. */
const nodeSubtle = (globalThis as unknown as { crypto: { subtle: AesCtrSubtle } }).crypto.subtle

describe('WebCrypto masks in segments (the volunteer page)', () => {
  it("give the definition's words at every segment and block boundary, however many are in flight", async () => {
    const masks = randomMasks(4)
    for (const words of [1, 3, 4, 5, 11, 12, 13, 63, 257])
      for (const segmentWords of [4, 8, 12, 64])
        for (const inFlight of [1, 3, 16]) {
          const acc = randomWords(words)
          const out = Uint32Array.from(acc)
          await webCryptoApplyMasks(nodeSubtle, out, masks, { segmentWords, inFlight })
          const expected = await reference(acc, masks)
          expect(
            Buffer.from(out.buffer).equals(Buffer.from(expected.buffer)),
            `${words} words, segments of ${segmentWords}, ${inFlight} in flight`,
          ).toBe(true)
        }
  })

  it('start each segment at its own 128-bit big-endian counter block', () => {
    expect(Buffer.from(counterBlock(0)).toString('hex')).toBe('0'.repeat(32))
    expect(Buffer.from(counterBlock(2 ** 40 + 0x0102)).toString('hex')).toBe(`${'0'.repeat(20)}010000000102`)
    expect(() => counterBlock(-1)).toThrow(/expected a block index ≥ 0, got number -1/)
    expect(() => counterBlock(1.5)).toThrow(/got number 1.5/)
  })

  it('refuse a segment that is not whole AES blocks, or nothing in flight', async () => {
    const acc = new Uint32Array(8)
    await expect(webCryptoApplyMasks(nodeSubtle, acc, randomMasks(1), { segmentWords: 6 })).rejects.toThrow(
      /segmentWords, a positive multiple of 4 \(one AES block\), got number 6/,
    )
    await expect(webCryptoApplyMasks(nodeSubtle, acc, randomMasks(1), { inFlight: 0 })).rejects.toThrow(
      /inFlight, an integer ≥ 1, got number 0/,
    )
  })

  it("fail with the first encrypt's error only after every call in flight has settled, and touch nothing after", async () => {
    let calls = 0
    let pending = 0
    const failing: AesCtrSubtle = {
      importKey: (...args) => nodeSubtle.importKey(...args),
      async encrypt(algorithm, key, data) {
        const call = ++calls
        pending++
        try {
          // Later calls finish after the failing one, so they are still in flight when it fails.
          await new Promise((resolve) => setTimeout(resolve, call === 3 ? 1 : 20))
          if (call === 3) throw new Error('the browser refused to encrypt')
          return await nodeSubtle.encrypt(algorithm, key, data)
        } finally {
          pending--
        }
      },
    }
    const acc = randomWords(64)
    const out = Uint32Array.from(acc)
    const applying = webCryptoApplyMasks(failing, out, randomMasks(3), { segmentWords: 8, inFlight: 4 })
    await expect(applying).rejects.toThrow('the browser refused to encrypt')
    expect(pending).toBe(0)
    // 24 segments were asked for; after the failure no new one is started.
    expect(calls).toBeLessThanOrEqual(4)
    const after = Uint32Array.from(out)
    await new Promise((resolve) => setTimeout(resolve, 40))
    expect(Buffer.from(out.buffer).equals(Buffer.from(after.buffer))).toBe(true)
  })
})
