import { expectMasks, type Mask, type SecaggCrypto, x25519All } from './crypto.ts'
import { addInto, subtractFrom } from './fixed-point.ts'
import { hkdfSha512, utf8 } from './hkdf.ts'
import { transcript } from './transcript.ts'

/**
 * The keys and masks of SecAgg (Bonawitz et al., CCS 2017, §4): every key comes out of HKDF-SHA-512
 * with the task id as salt and a transcript naming the purpose, task, round and parties as info, so
 * a key is bound to one use in one round. Masks are AES-128-CTR keystreams added mod 2^32.
 */
export type RoundLabel = { readonly taskId: string; readonly round: number }

/** A peer of u in a key agreement: its id (which orders the pair) and its advertised X25519 key. */
export type Peer = { readonly id: string; readonly publicKey: Uint8Array }

/**
 * K_uv, the 32-byte secretbox key under which u encrypts its shares for v (and v decrypts them):
 * HKDF over X25519(c_sk_u, c_pk_v). The pair is ordered so both ends derive the same key.
 */
export function shareKey(
  crypto: SecaggCrypto,
  round: RoundLabel,
  secretKey: Uint8Array,
  peerPublicKey: Uint8Array,
  u: string,
  v: string,
): Uint8Array {
  return shareKeys(crypto, round, secretKey, u, [{ id: v, publicKey: peerPublicKey }])[0] as Uint8Array
}

/** {@link shareKey} of u with each peer, in order, agreeing under u's secret key once (`x25519Each`). */
export function shareKeys(
  crypto: SecaggCrypto,
  round: RoundLabel,
  secretKey: Uint8Array,
  u: string,
  peers: readonly Peer[],
): Uint8Array[] {
  return pairKeys(crypto, round, 'share-key', secretKey, u, peers, 32)
}

/**
 * s_uv, the 16-byte AES key of the mask u and v share: HKDF over X25519(s_sk_u, s_pk_v). The
 * coordinator derives the same key from a dropped v's reconstructed s_sk_v to remove the mask.
 */
export function pairMaskKey(
  crypto: SecaggCrypto,
  round: RoundLabel,
  secretKey: Uint8Array,
  peerPublicKey: Uint8Array,
  u: string,
  v: string,
): Uint8Array {
  return pairMaskKeys(crypto, round, secretKey, u, [{ id: v, publicKey: peerPublicKey }])[0] as Uint8Array
}

/** {@link pairMaskKey} of u with each peer, in order, agreeing under u's secret key once (`x25519Each`). */
export function pairMaskKeys(
  crypto: SecaggCrypto,
  round: RoundLabel,
  secretKey: Uint8Array,
  u: string,
  peers: readonly Peer[],
): Uint8Array[] {
  return pairKeys(crypto, round, 'pair-mask', secretKey, u, peers, 16)
}

/**
 * {@link shareKeys} and {@link pairMaskKeys} with the agreements run through the backend's
 * asynchronous `x25519All` (WebCrypto in a browser, where tweetnacl would take 1 ms each; node:crypto's
 * mask threads in Node): the same keys. A participant agrees with every neighbour twice a round, the
 * coordinator with every surviving neighbour of each dropped participant.
 */
export function agreeShareKeys(
  crypto: SecaggCrypto,
  round: RoundLabel,
  secretKey: Uint8Array,
  u: string,
  peers: readonly Peer[],
): Promise<Uint8Array[]> {
  return agreedKeys(crypto, round, 'share-key', secretKey, u, peers, 32)
}

/** {@link pairMaskKeys} through `x25519All`: see {@link agreeShareKeys}. */
export function agreePairMaskKeys(
  crypto: SecaggCrypto,
  round: RoundLabel,
  secretKey: Uint8Array,
  u: string,
  peers: readonly Peer[],
): Promise<Uint8Array[]> {
  return agreedKeys(crypto, round, 'pair-mask', secretKey, u, peers, 16)
}

/** {@link pairKeys} with the agreements through `x25519All`. */
async function agreedKeys(
  crypto: SecaggCrypto,
  round: RoundLabel,
  purpose: 'share-key' | 'pair-mask',
  secretKey: Uint8Array,
  u: string,
  peers: readonly Peer[],
  length: number,
): Promise<Uint8Array[]> {
  const shared = await x25519All(
    crypto,
    secretKey,
    peers.map((p) => p.publicKey),
  )
  return deriveKeys(crypto, round, purpose, u, peers, shared, length)
}

function pairKeys(
  crypto: SecaggCrypto,
  round: RoundLabel,
  purpose: 'share-key' | 'pair-mask',
  secretKey: Uint8Array,
  u: string,
  peers: readonly Peer[],
  length: number,
): Uint8Array[] {
  const shared = crypto.x25519Each(
    secretKey,
    peers.map((p) => p.publicKey),
  )
  return deriveKeys(crypto, round, purpose, u, peers, shared, length)
}

/** HKDF over each shared secret, bound to the purpose, task, round and the ordered pair. */
function deriveKeys(
  crypto: SecaggCrypto,
  round: RoundLabel,
  purpose: 'share-key' | 'pair-mask',
  u: string,
  peers: readonly Peer[],
  shared: readonly Uint8Array[],
  length: number,
): Uint8Array[] {
  const salt = utf8(round.taskId)
  const hmac = (key: Uint8Array, message: Uint8Array) => crypto.hmacSha512(key, message)
  return peers.map(({ id: v }, i) => {
    const info = transcript(purpose, round.taskId, round.round, min(u, v), max(u, v))
    return hkdfSha512(shared[i] as Uint8Array, salt, info, length, hmac)
  })
}

/**
 * The 16-byte AES key of u's self mask PRG(b_u). The self mask hides y_u even when u's pair masks
 * are removed because u was late rather than gone (Bonawitz et al., §4, "double masking").
 */
export function selfMaskKey(
  crypto: SecaggCrypto,
  round: RoundLabel,
  seed: Uint8Array,
  u: string,
): Uint8Array {
  const info = transcript('self-mask', round.taskId, round.round, u)
  return hkdfSha512(seed, utf8(round.taskId), info, 16, (key, message) => crypto.hmacSha512(key, message))
}

/**
 * How u applies the mask it shares with v: added if u < v in string order, subtracted otherwise,
 * so the two cancel in the sum.
 */
export function pairSign(u: string, v: string): 1 | -1 {
  return u < v ? 1 : -1
}

/** acc ← acc + sign · PRG(key) mod 2^32, PRG(key) the AES-128-CTR keystream of acc's length. */
export function applyMask(
  crypto: SecaggCrypto,
  acc: Uint32Array,
  key: Uint8Array,
  sign: 1 | -1,
): Promise<void> {
  return applyMasks(crypto, acc, [{ key, sign }])
}

/** Keystreams requested at once where the backend has no `applyMasks` of its own (an asynchronous backend may overlap them). */
const CONCURRENT_KEYSTREAMS = 4

/**
 * acc ← acc + Σ sign · PRG(key) mod 2^32 over `masks`: the backend's fused `applyMasks` where it has
 * one (which checks the masks itself), else {@link applyKeystreams}.
 */
export function applyMasks(crypto: SecaggCrypto, acc: Uint32Array, masks: readonly Mask[]): Promise<void> {
  return crypto.applyMasks !== undefined ? crypto.applyMasks(acc, masks) : applyKeystreams(crypto, acc, masks)
}

/**
 * `applyMasks` without a fused backend: each keystream added or subtracted in turn, a few requested
 * at a time. Addition mod 2^32 commutes, so the order does not change a word.
 */
export async function applyKeystreams(
  crypto: SecaggCrypto,
  acc: Uint32Array,
  masks: readonly Mask[],
): Promise<void> {
  expectMasks(masks, 'applyMasks')
  for (let at = 0; at < masks.length; at += CONCURRENT_KEYSTREAMS) {
    const batch = masks.slice(at, at + CONCURRENT_KEYSTREAMS)
    const streams = await Promise.all(batch.map(({ key }) => crypto.keystream(key, acc.length)))
    for (const [i, { sign }] of batch.entries()) {
      if (sign === 1) addInto(acc, streams[i] as Uint32Array)
      else subtractFrom(acc, streams[i] as Uint32Array)
    }
  }
}

function min(a: string, b: string): string {
  return a < b ? a : b
}

function max(a: string, b: string): string {
  return a < b ? b : a
}
