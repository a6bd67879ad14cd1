import type { ParticipantKind } from '@fedtune/protocol'

type Entry = readonly [name: string, kind: ParticipantKind]
type Bucket = readonly Entry[]

/**
 * A roster spreads its names over 64 × 64 buckets by a 12-bit hash, in two levels: a change copies
 * the 64 slots of the top level, the 64 of one node and the one bucket the name is in.
 */
const WIDTH = 64
type Node = readonly Bucket[]
const EMPTY_NODE: Node = Array.from({ length: WIDTH }, () => [])
const EMPTY_TOP: readonly Node[] = Array.from({ length: WIDTH }, () => EMPTY_NODE)

/** FNV-1a over the name's UTF-16 code units; its low 12 bits pick the slot and the bucket. */
function hashOf(name: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193)
  return h
}
const topOf = (hash: number) => (hash >>> 6) & (WIDTH - 1)
const bucketOf = (hash: number) => hash & (WIDTH - 1)

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
  static readonly EMPTY = new Roster(EMPTY_TOP, 0, 0)

  /** A roster of these names and kinds (a later entry of a name replaces an earlier one). */
  static of(entries: Iterable<Entry>): Roster {
    let roster = Roster.EMPTY
    for (const [name, kind] of entries) roster = roster.with(name, kind)
    return roster
  }

  readonly #top: readonly Node[]
  /** How many are online. */
  readonly size: number
  /** How many of them are browsers. */
  readonly browsers: number

  private constructor(top: readonly Node[], size: number, browsers: number) {
    this.#top = top
    this.size = size
    this.browsers = browsers
  }

  get(name: string): ParticipantKind | undefined {
    for (const [n, kind] of this.#bucket(hashOf(name))) if (n === name) return kind
    return undefined
  }

  has(name: string): boolean {
    return this.get(name) !== undefined
  }

  /** This roster with `name` online as `kind` (its kind replaced if it was online already). */
  with(name: string, kind: ParticipantKind): Roster {
    const hash = hashOf(name)
    const bucket = this.#bucket(hash)
    const i = bucket.findIndex(([n]) => n === name)
    const was = i < 0 ? undefined : (bucket[i] as Entry)[1]
    if (was === kind) return this
    const entry: Entry = [name, kind]
    const next = i < 0 ? [...bucket, entry] : bucket.map((e, j) => (j === i ? entry : e))
    const browsers = this.browsers + (kind === 'browser' ? 1 : 0) - (was === 'browser' ? 1 : 0)
    return new Roster(this.#replace(hash, next), this.size + (i < 0 ? 1 : 0), browsers)
  }

  /** This roster without `name` (itself when `name` was not online). */
  without(name: string): Roster {
    const hash = hashOf(name)
    const bucket = this.#bucket(hash)
    const i = bucket.findIndex(([n]) => n === name)
    if (i < 0) return this
    const was = (bucket[i] as Entry)[1]
    const next = bucket.filter((_, j) => j !== i)
    const browsers = this.browsers - (was === 'browser' ? 1 : 0)
    return new Roster(this.#replace(hash, next), this.size - 1, browsers)
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

  #bucket(hash: number): Bucket {
    return (this.#top[topOf(hash)] as Node)[bucketOf(hash)] as Bucket
  }

  #replace(hash: number, bucket: Bucket): readonly Node[] {
    const top = topOf(hash)
    return withSlot(this.#top, top, withSlot(this.#top[top] as Node, bucketOf(hash), bucket))
  }
}
