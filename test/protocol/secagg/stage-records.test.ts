import { describe, expect, it } from 'vitest'
import {
  ADVERTISEMENT_RECORD_BYTES,
  advertisementRecords,
  parseSealedShares,
  parseUnmaskResponse,
  REVEALED_RECORD_BYTES,
  readAdvertisements,
  readIncomingShares,
  readRevealedShares,
  readSealedShares,
  revealedShareRecords,
  SHARE_RECORD_BYTES,
  sealedShareRecords,
} from '../../../protocol/src/secagg/index.ts'
import { idAt, indexOfSorted } from '../../../protocol/src/secagg/stage-records.ts'
import { seededRandom } from './round.ts'

const random = seededRandom('records')
const A = '0a'.repeat(16)
const B = '5b'.repeat(16)
const C = 'fc'.repeat(16)
const round = { taskId: 'chest-xray', round: 3 }

describe('secure-stage records: a list in one binary field, ids ascending', () => {
  it('a relay of advertisements is id ‖ cPublic ‖ sPublic ‖ signature per neighbour, and reads back', () => {
    const ads = [A, B, C].map((id) => ({
      id,
      cPublic: random(32),
      sPublic: random(32),
      signature: random(64),
    }))
    const bytes = advertisementRecords(ads)
    expect(ADVERTISEMENT_RECORD_BYTES).toBe(144)
    expect(bytes).toHaveLength(3 * 144)
    expect(bytes.subarray(144, 160)).toEqual(new Uint8Array(16).fill(0x5b))
    expect(bytes.subarray(144 + 16, 144 + 48)).toEqual(ads[1]?.cPublic)
    expect(readAdvertisements(bytes, 'relay')).toEqual(ads)
  })

  it('sealed and incoming shares are id ‖ 137-byte ciphertext; revealed shares id ‖ kind ‖ share', () => {
    const sealed = [A, C].map((to) => ({ to, ciphertext: random(137) }))
    const records = sealedShareRecords(sealed)
    expect(records).toHaveLength(2 * SHARE_RECORD_BYTES)
    expect(readSealedShares(records, 'sealed')).toEqual(sealed)
    expect(readIncomingShares(records, 'relay')).toEqual(
      sealed.map((s) => ({ from: s.to, ciphertext: s.ciphertext })),
    )
    const revealed = [
      { of: A, kind: 'mask-key' as const, share: random(32) },
      { of: B, kind: 'self-mask' as const, share: random(32) },
    ]
    const bytes = revealedShareRecords(revealed)
    expect(bytes).toHaveLength(2 * REVEALED_RECORD_BYTES)
    expect([bytes[16], bytes[49 + 16]]).toEqual([1, 0])
    expect(readRevealedShares(bytes, 'unmask')).toEqual(revealed)
  })

  it('refuses ids out of order or named twice, whichever side builds or reads them', () => {
    const ad = (id: string) => ({ id, cPublic: random(32), sPublic: random(32), signature: random(64) })
    expect(() => advertisementRecords([ad(B), ad(A)])).toThrow(
      `records: expected ids in strictly ascending order, got ${A} after ${B}`,
    )
    const twice = new Uint8Array(2 * 144)
    twice.set(advertisementRecords([ad(A)]), 0)
    twice.set(advertisementRecords([ad(A)]), 144)
    expect(() => readAdvertisements(twice, 'relay')).toThrow(
      `relay[1]: expected ids in strictly ascending order, got ${A} after ${A}`,
    )
  })

  it('refuses a field that is not a whole number of records, or more records than a neighbourhood', () => {
    const value = (shares: unknown) => ({ ...round, stage: 'share-keys', shares })
    expect(() => parseSealedShares(value(new Uint8Array(153 * 2 + 5)), round)).toThrow(
      'share-keys.shares: expected whole records of 153 bytes, got 311 bytes',
    )
    expect(() => parseSealedShares(value(new Uint8Array(153 * 1001)), round)).toThrow(
      /share-keys.shares: expected at most \d+ records, got 1001/,
    )
    expect(() => parseSealedShares(value([{ to: A, ciphertext: new Uint8Array(137) }]), round)).toThrow(
      'share-keys.shares: expected records as binary data, got',
    )
    const unmask = { ...round, stage: 'unmask', shares: new Uint8Array(49).fill(2) }
    expect(() => parseUnmaskResponse(unmask, round, 4)).toThrow(
      'unmask.shares[0].kind: expected 0 (self-mask) or 1 (mask-key), got 2',
    )
  })

  it('the coordinator keeps its own copy of the records, not a view of the socket’s buffer', () => {
    const wire = sealedShareRecords([{ to: A, ciphertext: random(137) }])
    const kept = parseSealedShares({ ...round, stage: 'share-keys', shares: wire }, round).shares
    wire.fill(0)
    expect(kept.subarray(0, 16)).toEqual(new Uint8Array(16).fill(0x0a))
  })

  it('finds an id by its bytes and by bisection', () => {
    const bytes = sealedShareRecords([A, B].map((to) => ({ to, ciphertext: random(137) })))
    expect(idAt(bytes, 0, A)).toBe(true)
    expect(idAt(bytes, SHARE_RECORD_BYTES, B)).toBe(true)
    expect(idAt(bytes, SHARE_RECORD_BYTES, A)).toBe(false)
    expect([A, B, C].map((id) => indexOfSorted([A, B, C], id))).toEqual([0, 1, 2])
    expect(indexOfSorted([A, C], B)).toBe(-1)
  })
})

describe('reading records as Node delivers them', () => {
  it('copies each field out of a Buffer, so later changes to the socket’s buffer cannot reach it', () => {
    const ad = { id: A, cPublic: random(32), sPublic: random(32), signature: random(64) }
    const received = Buffer.from(advertisementRecords([ad]))
    const [read] = readAdvertisements(received, 'relay')
    received.fill(0)
    expect(read?.cPublic).toEqual(ad.cPublic)
    expect(read?.cPublic).not.toBeInstanceOf(Buffer)
  })
})
