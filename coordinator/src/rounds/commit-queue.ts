/**
 * Commit before announce: while a round's record is being kept, every later effect (its result to
 * the participants, the next round's start) waits here and runs in order once it is kept.
 */
export class CommitQueue {
  /** The commit being waited for; undefined when nothing is held. */
  #held: Promise<void> | undefined
  #queue: (() => void)[] = []

  /** Whether a round's record is being committed. */
  get busy(): boolean {
    return this.#held !== undefined
  }

  /** Holds every later `run` until `commit` settles; it must never reject (commit-until-kept.ts retries). */
  hold(commit: Promise<void>): void {
    const held = commit.finally(() => {
      if (this.#held !== held) return
      this.#held = undefined
      // An effect run here may hold again (the next round's record): the rest then wait for that one.
      while (this.#held === undefined && this.#queue.length > 0) this.#queue.shift()?.()
    })
    this.#held = held
  }

  /** Runs `fn` once the held commit is kept, after what was queued before it (call only while `busy`). */
  enqueue(fn: () => void): void {
    this.#queue.push(fn)
  }
}
