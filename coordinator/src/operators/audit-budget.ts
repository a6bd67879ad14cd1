/** How many refused requests of one address the audit log takes a row each for, per window. */
export type AuditBudgetLimits = {
  /** Rows per address per window; past it, the refusals are counted into one summary row. */
  readonly perAddress: number
  readonly windowMs: number
  /** Addresses remembered at once; past it, the one whose window started first is summarized and dropped. */
  readonly maxAddresses: number
}

export const DEFAULT_AUDIT_BUDGET: AuditBudgetLimits = {
  perAddress: 60,
  windowMs: 60_000,
  maxAddresses: 10_000,
}

/** A window that ended with refusals past the budget: what its summary row says. */
export type Suppressed = { readonly address: string; readonly count: number; readonly since: number }

type Window = { start: number; count: number }

/**
 * Keeps a flood of refused requests from growing the audit log without bound: each address gets
 * `perAddress` rows per window, and the refusals past that are counted, then written as one summary
 * row when its window ends (at its next refusal, when `sweep` finds it over, or when it is dropped to
 * make room). Memory is bounded by `maxAddresses`.
 */
export class AuditBudget {
  readonly #limits: AuditBudgetLimits
  readonly #windows = new Map<string, Window>()

  constructor(limits: Partial<AuditBudgetLimits> = {}) {
    this.#limits = { ...DEFAULT_AUDIT_BUDGET, ...limits }
    for (const [key, value] of Object.entries(this.#limits))
      if (!Number.isSafeInteger(value) || value < 1)
        throw new RangeError(`audit budget: expected ${key} to be a positive whole number, got ${value}`)
  }

  /**
   * One refusal from `address` at `now`: whether it gets a row of its own, and the windows that ended
   * with refusals past the budget (this address's last one, or one dropped to make room).
   */
  take(address: string, now: number): { readonly write: boolean; readonly ended: readonly Suppressed[] } {
    const ended: Suppressed[] = []
    let window = this.#windows.get(address)
    if (window !== undefined && now - window.start >= this.#limits.windowMs) {
      if (window.count > this.#limits.perAddress)
        ended.push({ address, count: window.count - this.#limits.perAddress, since: window.start })
      this.#windows.delete(address)
      window = undefined
    }
    if (window === undefined) {
      if (this.#windows.size >= this.#limits.maxAddresses) {
        const [oldest, w] = this.#windows.entries().next().value as [string, Window]
        this.#windows.delete(oldest)
        if (w.count > this.#limits.perAddress)
          ended.push({ address: oldest, count: w.count - this.#limits.perAddress, since: w.start })
      }
      window = { start: now, count: 0 }
      this.#windows.set(address, window)
    }
    window.count++
    return { write: window.count <= this.#limits.perAddress, ended }
  }

  /** The windows over at `now` that had refusals past the budget; every window over is forgotten. */
  sweep(now: number): readonly Suppressed[] {
    const ended: Suppressed[] = []
    for (const [address, window] of this.#windows)
      if (now - window.start >= this.#limits.windowMs) {
        if (window.count > this.#limits.perAddress)
          ended.push({ address, count: window.count - this.#limits.perAddress, since: window.start })
        this.#windows.delete(address)
      }
    return ended
  }

  /** Addresses remembered now. */
  get size(): number {
    return this.#windows.size
  }
}
