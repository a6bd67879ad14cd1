/** How many failed sign-ins are allowed in a window, and how many keys (addresses, names) are remembered. */
export type SignInLimits = {
  readonly failures: number
  readonly windowMs: number
  /** The most keys kept: beyond it, expired entries go first, then the oldest. */
  readonly maxKeys: number
}

export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = { failures: 5, windowMs: 15 * 60_000, maxKeys: 10_000 }

type Entry = { count: number; startedAt: number }

/**
 * Failed sign-ins counted per address and per name in a fixed window: past `failures` in the window,
 * further attempts are refused until it ends (OWASP Authentication Cheat Sheet, "Account lockout" by
 * throttling). A success resets the name's count, not the address's (one address guessing many names
 * stays throttled). Memory is bounded: at most `maxKeys` entries.
 */
export class SignInLimiter {
  readonly #limits: SignInLimits
  readonly #entries = new Map<string, Entry>()

  constructor(limits: SignInLimits = DEFAULT_SIGN_IN_LIMITS) {
    for (const [key, value] of Object.entries(limits))
      if (!Number.isSafeInteger(value) || value < 1)
        throw new RangeError(`SignInLimiter: expected ${key} to be a positive integer, got ${value}`)
    this.#limits = limits
  }

  /** Milliseconds until `address` and `name` may try again (0: they may now). */
  retryAfterMs(address: string, name: string, now: number): number {
    return Math.max(this.#wait(`address ${address}`, now), this.#wait(`name ${name}`, now))
  }

  failed(address: string, name: string, now: number): void {
    this.#count(`address ${address}`, now)
    this.#count(`name ${name}`, now)
  }

  succeeded(name: string): void {
    this.#entries.delete(`name ${name}`)
  }

  /** How many keys are remembered (for the test that the map stays bounded). */
  get size(): number {
    return this.#entries.size
  }

  #wait(key: string, now: number): number {
    const entry = this.#entries.get(key)
    if (entry === undefined) return 0
    const ends = entry.startedAt + this.#limits.windowMs
    if (now >= ends) {
      this.#entries.delete(key)
      return 0
    }
    return entry.count >= this.#limits.failures ? ends - now : 0
  }

  #count(key: string, now: number): void {
    const entry = this.#entries.get(key)
    if (entry !== undefined && now < entry.startedAt + this.#limits.windowMs) {
      entry.count += 1
      return
    }
    this.#entries.delete(key)
    if (this.#entries.size >= this.#limits.maxKeys) this.#evict(now)
    this.#entries.set(key, { count: 1, startedAt: now })
  }

  #evict(now: number): void {
    for (const [key, entry] of this.#entries)
      if (now >= entry.startedAt + this.#limits.windowMs) this.#entries.delete(key)
    // A Map iterates in insertion order: what remains first is the oldest window.
    for (const key of this.#entries.keys()) {
      if (this.#entries.size < this.#limits.maxKeys) break
      this.#entries.delete(key)
    }
  }
}
