import type { Traffic } from '../sockets/participant-event.ts'

/**
 * A task's participant connections' bytes during its rounds: each connection's counters are read
 * when the round starts (or when it joins mid-round) and again when the round ends (or when it
 * leaves), and the round's bytes are the sum of the differences.
 */
export class RoundTraffic {
  readonly #connections = new Map<string, () => Traffic>()
  /** The running round's starting counters per connection, and the counters of those who left since. */
  #round: {
    readonly base: Map<string, Traffic>
    readonly left: Map<string, { from: Traffic; to: Traffic }[]>
  } | null = null

  joined(participant: string, traffic: () => Traffic): void {
    this.#connections.set(participant, traffic)
    this.#round?.base.set(participant, traffic())
  }

  left(participant: string, final: Traffic): void {
    this.#connections.delete(participant)
    const round = this.#round
    const from = round?.base.get(participant)
    if (round === null || from === undefined) return
    round.base.delete(participant)
    const closed = round.left.get(participant) ?? []
    closed.push({ from, to: final })
    round.left.set(participant, closed)
  }

  roundStarted(): void {
    const base = new Map<string, Traffic>()
    for (const [participant, traffic] of this.#connections) base.set(participant, traffic())
    this.#round = { base, left: new Map() }
  }

  /** The bytes in and out of every connection since the round started; none once it is read. */
  roundEnded(): Traffic {
    const round = this.#round
    this.#round = null
    if (round === null) return { in: 0, out: 0 }
    let bytesIn = 0
    let bytesOut = 0
    for (const [participant, from] of round.base) {
      const to = this.#connections.get(participant)?.() ?? from
      bytesIn += to.in - from.in
      bytesOut += to.out - from.out
    }
    for (const spans of round.left.values())
      for (const { from, to } of spans) {
        bytesIn += to.in - from.in
        bytesOut += to.out - from.out
      }
    return { in: bytesIn, out: bytesOut }
  }
}
