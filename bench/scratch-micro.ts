import { addInto, hkdfSha512, shamirCombine, shamirSplit, subtractFrom } from '@fedtune/protocol'
import { nodeCrypto as c } from '@fedtune/protocol/node'

const time = async (name: string, reps: number, f: () => unknown) => {
  for (let i = 0; i < Math.min(50, reps); i++) await f()
  const t = performance.now()
  for (let i = 0; i < reps; i++) await f()
  console.log(name, (((performance.now() - t) / reps) * 1000).toFixed(1), 'µs')
}
const sk = c.randomBytes(32),
  pk = c.x25519Base(c.randomBytes(32))
await time('x25519', 2000, () => c.x25519(sk, pk))
await time('x25519Base', 2000, () => c.x25519Base(sk))
const seed = c.randomBytes(32)
const msg = c.randomBytes(100)
const sig = c.sign(seed, msg)
const pub = c.ed25519PublicKey(seed)
await time('verify', 2000, () => c.verify(pub, msg, sig))
await time('sign', 2000, () => c.sign(seed, msg))
const salt = new TextEncoder().encode('bench'),
  info = c.randomBytes(80)
await time('hkdf', 2000, () => hkdfSha512(sk, salt, info, 16))
const key = c.randomBytes(16)
await time('keystream 12810', 2000, () => c.keystream(key, 12810))
const acc = new Uint32Array(12810),
  v = new Uint32Array(12810).fill(3)
await time('subtract 12810', 5000, () => subtractFrom(acc, v))
await time('add 12810', 5000, () => addInto(acc, v))
const xs = Array.from({ length: 40 }, (_, i) => i + 1)
const shares = shamirSplit(sk, 21, xs, (n) => c.randomBytes(n))
await time('shamirCombine 21', 5000, () => shamirCombine(shares, 21))
await time('keystream 328453', 200, () => c.keystream(key, 328453))
const big = new Uint32Array(328453),
  bv = new Uint32Array(328453).fill(5)
await time('add 328453', 500, () => addInto(big, bv))
