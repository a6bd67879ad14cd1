/**
 * Runs a key's job at most once per `ms`: the first call at once (in a microtask, after the
 * caller's synchronous work), calls within `ms` of the last run folded into one at the end of it.
 */
export class Throttle {
  readonly #ms: number
  readonly #last = new Map<string, number>()
  readonly #pending = new Map<string, ReturnType<typeof setTimeout> | 'soon'>()
  readonly #now: () => number
  #closed = false

  constructor(ms: number, now: () => number = Date.now) {
    this.#ms = ms
    this.#now = now
  }

  /** Runs `job` for `key` now-ish, or once the key's `ms` has passed; `now` skips the wait (a stage changed). */
  run(key: string, job: () => void, now = false): void {
    if (this.#closed) return
    const pending = this.#pending.get(key)
    if (pending === 'soon') return
    if (now && pending !== undefined) clearTimeout(pending)
    else if (pending !== undefined) return
    const wait = now
      ? 0
      : Math.max(0, (this.#last.get(key) ?? Number.NEGATIVE_INFINITY) + this.#ms - this.#now())
    const fire = () => {
      this.#pending.delete(key)
      if (this.#closed) return
      this.#last.set(key, this.#now())
      job()
    }
    if (wait === 0) {
      this.#pending.set(key, 'soon')
      queueMicrotask(fire)
    } else this.#pending.set(key, setTimeout(fire, wait))
  }

  close(): void {
    this.#closed = true
    for (const pending of this.#pending.values()) if (pending !== 'soon') clearTimeout(pending)
    this.#pending.clear()
  }
}
