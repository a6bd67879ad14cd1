import { randomBytes } from 'node:crypto'
import type { ParticipantKind } from '@fedtune/protocol'

type Entry = readonly [name: string, kind: ParticipantKind]
type Bucket = readonly Entry[]

/**
 * A roster spreads its names over 64 × 64 buckets by a 12-bit hash, in two levels: a change copies
 * the 64 slots of the top level, the 64 of one node and the one bucket the name is in. The hash is
 * seeded at random per process, so names cannot be chosen in advance to fill one bucket (names are
 * the participants' own; open enrolment lets strangers pick them).
 */
const WIDTH = 64
type Node = readonly Bucket[]
const EMPTY_NODE: Node = Array.from({ length: WIDTH }, () => [])
const EMPTY_TOP: readonly Node[] = Array.from({ length: WIDTH }, () => EMPTY_NODE)

const PROCESS_SEED = randomBytes(4).readUInt32LE(0)

/**
 * Where `name` goes under `seed`, 0 to 4095: FNV-1a over its UTF-16 code units from a seeded basis,
 * then MurmurHash3's finalizer, so every bit of the name and of the seed moves the 12 bits kept.
 */
export function rosterSlot(name: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h & (WIDTH * WIDTH - 1)
}
const topOf = (slot: number) => slot >>> 6
const bucketOf = (slot: number) => slot & (WIDTH - 1)

const withSlot = <T>(slots: readonly T[], at: number, value: T): readonly T[] => {
  const copy = slots.slice()
  copy[at] = value
  return copy
}

/**
 * Who is online, and whether each is a hospital or a browser: an immutable map from name to kind,
 * as the pure round logic (round.ts) needs it, that is cheap to change. A join or a leave returns a
 * new roster sharing all but one bucket with the old one, so it costs O(128 + n/4096) instead of
 * the O(n) of copying a Map — which made n joins O(n²): 20,000 took minutes. The old roster is left as
 * it was. Browsers are counted as they come and go, so how many one round could take is O(1).
 */
export class Roster implements Iterable<Entry> {
  /** No one online, hashed with this process's seed. */
  static readonly EMPTY = Roster.empty(PROCESS_SEED)

  /** No one online, hashed with `seed` (tests; otherwise EMPTY). */
  static empty(seed: number): Roster {
    return new Roster(seed >>> 0, EMPTY_TOP, 0, 0)
  }

  /** A roster of these names and kinds (a later entry of a name replaces an earlier one). */
  static of(entries: Iterable<Entry>): Roster {
    let roster = Roster.EMPTY
    for (const [name, kind] of entries) roster = roster.with(name, kind)
    return roster
  }

  readonly #seed: number
  readonly #top: readonly Node[]
  /** How many are online. */
  readonly size: number
  /** How many of them are browsers. */
  readonly browsers: number

  private constructor(seed: number, top: readonly Node[], size: number, browsers: number) {
    this.#seed = seed
    this.#top = top
    this.size = size
    this.browsers = browsers
  }

  get(name: string): ParticipantKind | undefined {
    for (const [n, kind] of this.#bucket(rosterSlot(name, this.#seed))) if (n === name) return kind
    return undefined
  }

  has(name: string): boolean {
    return this.get(name) !== undefined
  }

  /** This roster with `name` online as `kind` (its kind replaced if it was online already). */
  with(name: string, kind: ParticipantKind): Roster {
    const slot = rosterSlot(name, this.#seed)
    const bucket = this.#bucket(slot)
    const i = bucket.findIndex(([n]) => n === name)
    const was = i < 0 ? undefined : (bucket[i] as Entry)[1]
    if (was === kind) return this
    const entry: Entry = [name, kind]
    const next = i < 0 ? [...bucket, entry] : bucket.map((e, j) => (j === i ? entry : e))
    const browsers = this.browsers + (kind === 'browser' ? 1 : 0) - (was === 'browser' ? 1 : 0)
    return new Roster(this.#seed, this.#replace(slot, next), this.size + (i < 0 ? 1 : 0), browsers)
  }

  /** This roster without `name` (itself when `name` was not online). */
  without(name: string): Roster {
    const slot = rosterSlot(name, this.#seed)
    const bucket = this.#bucket(slot)
    const i = bucket.findIndex(([n]) => n === name)
    if (i < 0) return this
    const was = (bucket[i] as Entry)[1]
    const next = bucket.filter((_, j) => j !== i)
    const browsers = this.browsers - (was === 'browser' ? 1 : 0)
    return new Roster(this.#seed, this.#replace(slot, next), this.size - 1, browsers)
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this) yield name
  }

  *values(): IterableIterator<ParticipantKind> {
    for (const [, kind] of this) yield kind
  }

  *[Symbol.iterator](): IterableIterator<Entry> {
    for (const node of this.#top) for (const bucket of node) yield* bucket
  }

  #bucket(slot: number): Bucket {
    return (this.#top[topOf(slot)] as Node)[bucketOf(slot)] as Bucket
  }

  #replace(slot: number, bucket: Bucket): readonly Node[] {
    const top = topOf(slot)
    return withSlot(this.#top, top, withSlot(this.#top[top] as Node, bucketOf(slot), bucket))
  }
}
