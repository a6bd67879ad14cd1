import { setFlagsFromString } from 'node:v8'

/**
 * How far V8 lets the coordinator's old generation grow past what the last full collection kept
 * before it starts the next, in percent. A coordinator serving a round of 1000 keeps ~100 MB live
 * (its connections, the run, the console); V8's own factor, worked out from how fast it collects,
 * fell to ~1.25 there, so incremental marking began as soon as the last one ended and a full
 * mark-compact ran about once a second while a stage's messages came in (bench:load, --trace-gc:
 * ~40 a run). At 100 % the heap may reach twice its live size first: about half as many, for
 * ~100 MB more heap at most.
 */
export const HEAP_GROWING_PERCENT = 100

/** Sets V8's heap growing factor for this process (read at every collection, so it applies from the next). */
export function letHeapGrow(percent: number = HEAP_GROWING_PERCENT): void {
  setFlagsFromString(`--heap-growing-percent=${percent}`)
}
