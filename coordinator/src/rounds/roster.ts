import type { ParticipantKind } from '@fedtune/protocol'

type Entry = readonly [name: string, kind: ParticipantKind]
type Bucket = readonly Entry[]

/** Buckets a roster spreads its names over: a change copies the bucket list and one bucket. */
const BUCKETS = 256
const NO_BUCKETS: readonly Bucket[] = Array.from({ length: BUCKETS }, () => [])

/** FNV-1a over the name's UTF-16 code units, to a bucket. */
function bucketOf(name: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193)
  return (h >>> 0) % BUCKETS
}

/**
 * Who is online, and whether each is a hospital or a browser: an immutable map from name to kind,
 * as the pure round logic (round.ts) needs it, that is cheap to change. A join or a leave returns a
 * new roster sharing all but one bucket with the old one, so it costs O(256 + n/256) instead of the
 * O(n) of copying a Map — which made n joins O(n²): 20,000 took minutes. The old roster is left as
 * it was. Browsers are counted as they come and go, so how many one round could take is O(1).
 */
export class Roster implements Iterable<Entry> {
  static readonly EMPTY = new Roster(NO_BUCKETS, 0, 0)

  /** A roster of these names and kinds (a later entry of a name replaces an earlier one). */
  static of(entries: Iterable<Entry>): Roster {
    let roster = Roster.EMPTY
    for (const [name, kind] of entries) roster = roster.with(name, kind)
    return roster
  }

  readonly #buckets: readonly Bucket[]
  /** How many are online. */
  readonly size: number
  /** How many of them are browsers. */
  readonly browsers: number

  private constructor(buckets: readonly Bucket[], size: number, browsers: number) {
    this.#buckets = buckets
    this.size = size
    this.browsers = browsers
  }

  get(name: string): ParticipantKind | undefined {
    const bucket = this.#buckets[bucketOf(name)] as Bucket
    for (const [n, kind] of bucket) if (n === name) return kind
    return undefined
  }

  has(name: string): boolean {
    return this.get(name) !== undefined
  }

  /** This roster with `name` online as `kind` (its kind replaced if it was online already). */
  with(name: string, kind: ParticipantKind): Roster {
    const at = bucketOf(name)
    const bucket = this.#buckets[at] as Bucket
    const i = bucket.findIndex(([n]) => n === name)
    const was = i < 0 ? undefined : (bucket[i] as Entry)[1]
    if (was === kind) return this
    const entry: Entry = [name, kind]
    const next = i < 0 ? [...bucket, entry] : bucket.map((e, j) => (j === i ? entry : e))
    const browsers = this.browsers + (kind === 'browser' ? 1 : 0) - (was === 'browser' ? 1 : 0)
    return new Roster(this.#replace(at, next), this.size + (i < 0 ? 1 : 0), browsers)
  }

  /** This roster without `name` (itself when `name` was not online). */
  without(name: string): Roster {
    const at = bucketOf(name)
    const bucket = this.#buckets[at] as Bucket
    const i = bucket.findIndex(([n]) => n === name)
    if (i < 0) return this
    const was = (bucket[i] as Entry)[1]
    const next = bucket.filter((_, j) => j !== i)
    return new Roster(this.#replace(at, next), this.size - 1, this.browsers - (was === 'browser' ? 1 : 0))
  }

  *keys(): IterableIterator<string> {
    for (const bucket of this.#buckets) for (const [name] of bucket) yield name
  }

  *values(): IterableIterator<ParticipantKind> {
    for (const bucket of this.#buckets) for (const [, kind] of bucket) yield kind
  }

  *[Symbol.iterator](): IterableIterator<Entry> {
    for (const bucket of this.#buckets) yield* bucket
  }

  #replace(at: number, bucket: Bucket): readonly Bucket[] {
    const buckets = this.#buckets.slice()
    buckets[at] = bucket
    return buckets
  }
}
