import type { ExcludedEntry } from '../participants/exclusion.ts'
import type { Link } from './link.ts'

/**
 * Who takes part in a run as the federation's shell sees them: each connected participant's link,
 * the identity key each joined with (a secure round's roster), and who a complaint excluded.
 */
export class RunParticipants {
  readonly #links = new Map<string, Link>()
  /** The identity key of each participant that joined this run (admitted by the socket shell). */
  readonly #identities = new Map<string, Uint8Array>()
  readonly #excluded = new Map<string, ExcludedEntry>()
  /** Where a send that throws is reported; it costs only that participant the message. */
  readonly #warn: (what: string, fn: () => void) => void

  constructor(warn: (what: string, fn: () => void) => void) {
    this.#warn = warn
  }

  /** Records `participant`'s link and key; returns the older link it replaces, if another. */
  connect(participant: string, identityKey: Uint8Array, link: Link): Link | undefined {
    const older = this.#links.get(participant)
    this.#links.set(participant, link)
    this.#identities.set(participant, identityKey)
    return older !== link ? older : undefined
  }

  /** Forgets `participant`'s link (only `link`, when given); returns the link forgotten. */
  disconnect(participant: string, link?: Link): Link | undefined {
    const current = this.#links.get(participant)
    if (current === undefined || (link !== undefined && current !== link)) return undefined
    this.#links.delete(participant)
    return current
  }

  isOnline(participant: string): boolean {
    return this.#links.has(participant)
  }

  identityOf(participant: string): Uint8Array {
    const key = this.#identities.get(participant)
    if (key === undefined)
      throw new Error(`expected an identity key for ${participant}, got none: it never joined`)
    return key
  }

  get excluded(): ReadonlyMap<string, ExcludedEntry> {
    return this.#excluded
  }

  /** Records an exclusion; false when `entry.participant` was excluded already. */
  exclude(entry: ExcludedEntry): boolean {
    if (this.#excluded.has(entry.participant)) return false
    this.#excluded.set(entry.participant, entry)
    return true
  }

  /** Calls one link; a link that throws costs only its own participant the message. */
  tell(participant: string, link: Link, send: (link: Link) => void): void {
    this.#warn(`sending to ${participant}`, () => send(link))
  }

  /** Sends to `participant` if it is connected. */
  send(participant: string, send: (link: Link) => void): void {
    const link = this.#links.get(participant)
    if (link) this.tell(participant, link, send)
  }

  tellAll(send: (link: Link) => void): void {
    for (const [participant, link] of this.#links) this.tell(participant, link, send)
  }
}
