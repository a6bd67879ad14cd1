import { naclCrypto } from '@fedtune/protocol'
import { load, save } from './store.ts'

export type Identity = { readonly seed: Uint8Array; readonly publicKey: Uint8Array; readonly name: string }

type Stored = { seed: Uint8Array; name: string }

/**
 * This browser's long-term Ed25519 identity for secure aggregation: created on opt-in, kept in
 * IndexedDB (so a reload rejoins under the same name and key), deleted by "stop". The name is
 * derived from the public key, so two browsers never claim one name.
 */
export async function volunteerIdentity(): Promise<Identity> {
  const stored = await load<Stored>('identity')
  if (stored !== undefined && stored.seed instanceof Uint8Array && stored.seed.length === 32)
    return { seed: stored.seed, publicKey: naclCrypto.ed25519PublicKey(stored.seed), name: stored.name }
  const seed = naclCrypto.randomBytes(32)
  const publicKey = naclCrypto.ed25519PublicKey(seed)
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', publicKey as Uint8Array<ArrayBuffer>))
  const name = `volunteer-${hex(digest.subarray(0, 6))}`
  await save('identity', { seed, name } satisfies Stored)
  return { seed, publicKey, name }
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
