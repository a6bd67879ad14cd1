import { utf8 } from './hkdf.ts'

/**
 * Domain separation for everything secure aggregation signs or derives a key from. Each field is
 * length-prefixed (4-byte big-endian), so no two different field lists encode to the same bytes,
 * and every transcript starts with the protocol name and a label, so a signature or key made for
 * one purpose ("advertise", "pair-mask", …) can never stand in for another, nor for another
 * task or round (Bonawitz et al., CCS 2017, §6: "session and round identifiers").
 */
/** 'hello' (round 0) is the proof of possession of hello-proof.ts; the rest are the round's. */
export type TranscriptLabel = 'hello' | 'advertise' | 'share-key' | 'pair-mask' | 'self-mask' | 'complaint'

const PROTOCOL = 'fedtune/secagg/1'

export function transcript(
  label: TranscriptLabel,
  taskId: string,
  round: number,
  ...fields: readonly (string | Uint8Array)[]
): Uint8Array {
  const parts = [PROTOCOL, label, taskId, String(round), ...fields].map((f) =>
    typeof f === 'string' ? utf8(f) : f,
  )
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0))
  const view = new DataView(out.buffer)
  let at = 0
  for (const p of parts) {
    view.setUint32(at, p.length, false)
    out.set(p, at + 4)
    at += 4 + p.length
  }
  return out
}
