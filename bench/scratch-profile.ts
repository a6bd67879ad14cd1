import { nodeCrypto } from '@fedtune/protocol/node'
import { benchInput, measureRound, setupRound } from './secagg-round.ts'

const n = Number(process.argv[2] ?? 1000),
  dim = Number(process.argv[3] ?? 12810),
  drop = Number(process.argv[4] ?? 0.1)
const k = n >= 41 ? 41 : n,
  t = n >= 41 ? 21 : Math.floor(n / 2) + 1
const spec = { crypto: nodeCrypto, n, dim, neighbourCount: k, threshold: t }
let t0 = performance.now()
const round = setupRound(spec)
console.log('setup', (performance.now() - t0).toFixed(0))
const inputs = Array.from({ length: n }, (_, i) => benchInput(i, dim))
const dropped = new Set(
  Array.from({ length: Math.floor(n * drop) }, (_, i) => i * Math.round(1 / drop)).filter((i) => i < n),
)
t0 = performance.now()
const m = await measureRound({ ...spec, dropped }, round, inputs)
console.log('round wall', (performance.now() - t0).toFixed(0))
const pm = m.participantMs
console.log({
  ...m,
  participantMs: [pm.reduce((a, b) => a + b, 0) / pm.length, Math.max(...pm)],
  participantBytes: m.participantBytes[0],
})
