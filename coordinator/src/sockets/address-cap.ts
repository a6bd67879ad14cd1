/**
 * Open connections per IP address, so one host cannot hold thousands of sockets. A slot is taken
 * when a websocket upgrade is admitted and given back when its TCP socket closes, so upgrades in
 * flight count too.
 */
export class AddressCap {
  readonly #max: number
  readonly #open = new Map<string, number>()

  constructor(max: number) {
    this.#max = max
  }

  /** Takes a slot for `address`; false when it already holds `max`. */
  take(address: string): boolean {
    const open = this.#open.get(address) ?? 0
    if (open >= this.#max) return false
    this.#open.set(address, open + 1)
    return true
  }

  give(address: string): void {
    const open = (this.#open.get(address) ?? 1) - 1
    if (open <= 0) this.#open.delete(address)
    else this.#open.set(address, open)
  }

  count(address: string): number {
    return this.#open.get(address) ?? 0
  }
}

/** One spelling per address: an IPv4 address mapped into IPv6 is the IPv4 address. */
export function addressOf(remote: string | undefined): string {
  if (remote === undefined) return 'unknown'
  return remote.startsWith('::ffff:') ? remote.slice('::ffff:'.length) : remote
}
