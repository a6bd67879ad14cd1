import type { Clock } from '../rounds/clock.ts'

/**
 * The deadline of a secure round's open stage. advertise, share-keys and unmask each get the
 * task's stageDeadlineMs from their opening; masked-input follows local training, so it is due at
 * the round's deadline. An operator's extension pushes both the open stage's deadline and the
 * masked inputs' (which bounds that stage when it opens later).
 */
export class StageDeadline {
  readonly #clock: Clock
  /** When the masked inputs are due (epoch ms). */
  #maskedInputAt: number
  #armed: { at: number; cancel: () => void; readonly fire: () => void } | undefined

  constructor(clock: Clock, maskedInputAt: number) {
    this.#clock = clock
    this.#maskedInputAt = maskedInputAt
  }

  /** Arms the deadline of `stage`, opened at `openedAt` (epoch ms), replacing the last stage's; `fire` runs when it passes. */
  arm(stage: string, openedAt: number, stageMs: number, fire: () => void): void {
    if (stage === 'masked-input') {
      const at = this.#maskedInputAt
      this.#set(at, Math.max(1, at - this.#clock.now()), fire)
    } else this.#set(openedAt + stageMs, stageMs, fire)
  }

  /** Pushes the masked inputs' deadline and the armed stage's `ms` later (an operator extended the round). */
  extend(ms: number): void {
    this.#maskedInputAt += ms
    const armed = this.#armed
    if (armed === undefined) return
    const at = armed.at + ms
    this.#set(at, Math.max(1, at - this.#clock.now()), armed.fire)
  }

  cancel(): void {
    this.#armed?.cancel()
    this.#armed = undefined
  }

  #set(at: number, ms: number, fire: () => void): void {
    this.cancel()
    const armed = {
      at,
      fire,
      cancel: this.#clock.after(ms, () => {
        if (this.#armed === armed) this.#armed = undefined
        fire()
      }),
    }
    this.#armed = armed
  }
}
