import { type DistributedDiscreteGaussian, ddgRdp } from './ddg-rdp.ts'
import { checkCount, checkOrders, refuse } from './rdp-arguments.ts'
import { type EpsilonAtOrder, rdpToEpsilon } from './rdp-conversion.ts'
import { DEFAULT_RDP_ORDERS } from './rdp-orders.ts'
import { type SubsampledGaussian, subsampledGaussianRdp } from './subsampled-gaussian.ts'

/**
 * What the accountant composes, as plain data:
 *  - `subsampled-gaussian`: `steps` steps of DP-SGD at one sampling rate and noise multiplier (one
 *    participant's local training in a round, or a whole run);
 *  - `distributed-discrete-gaussian`: `rounds` rounds of the secure sum with the same survivors count
 *    and noise; a round with a different number of survivors is an event of its own.
 */
export type PrivacyEvent =
  | ({ readonly kind: 'subsampled-gaussian'; readonly steps: number } & SubsampledGaussian)
  | ({
      readonly kind: 'distributed-discrete-gaussian'
      readonly rounds: number
    } & DistributedDiscreteGaussian)

/**
 * Privacy spent so far as a Rényi DP curve: `rdp[k]` at `orders[k]`. A value, never changed in place:
 * composing returns a new account.
 */
export type RdpAccount = { readonly orders: readonly number[]; readonly rdp: readonly number[] }

/** An account with nothing spent, at the given orders (by default dp_accounting's 156). */
export function emptyRdpAccount(orders: readonly number[] = DEFAULT_RDP_ORDERS): RdpAccount {
  checkOrders(orders)
  return { orders: Object.freeze([...orders]), rdp: Object.freeze(orders.map(() => 0)) }
}

/** The Rényi DP curve of one event at each order: its per-step (or per-round) curve times its count. */
export function eventRdp(event: PrivacyEvent, orders: readonly number[] = DEFAULT_RDP_ORDERS): number[] {
  switch (event.kind) {
    case 'subsampled-gaussian': {
      checkCount('steps', event.steps)
      // Zero steps spend nothing, even with no noise (where ∞·0 would be NaN).
      return subsampledGaussianRdp(event, orders).map((r) => (event.steps === 0 ? 0 : r * event.steps))
    }
    case 'distributed-discrete-gaussian': {
      checkCount('rounds', event.rounds)
      return ddgRdp(event, orders).map((r) => (event.rounds === 0 ? 0 : r * event.rounds))
    }
    default:
      return refuse(
        'event.kind',
        '"subsampled-gaussian" or "distributed-discrete-gaussian"',
        (event as { kind: unknown }).kind,
      )
  }
}

/**
 * The account after `event`: Rényi DP composes by adding curves order by order (Mironov 2017, Prop. 1),
 * whatever the mechanisms and however they were chosen adaptively.
 */
export function composeEvent(account: RdpAccount, event: PrivacyEvent): RdpAccount {
  const added = eventRdp(event, account.orders)
  return { orders: account.orders, rdp: Object.freeze(account.rdp.map((r, k) => r + (added[k] as number))) }
}

/** The account after every event in turn. */
export function composeEvents(account: RdpAccount, events: readonly PrivacyEvent[]): RdpAccount {
  return events.reduce(composeEvent, account)
}

/**
 * The (ε, δ) the account has spent: the smallest ε over its orders for this δ, with the order that
 * gives it (Canonne, Kamath & Steinke 2020, Prop. 12; see rdpToEpsilon).
 */
export function epsilonSpent(account: RdpAccount, delta: number): EpsilonAtOrder {
  return rdpToEpsilon(account.orders, account.rdp, delta)
}
