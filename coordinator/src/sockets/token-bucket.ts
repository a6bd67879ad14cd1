/** A token bucket (as plain data): `tokens` left at time `at` (ms). */
export type Bucket = { readonly tokens: number; readonly at: number }

export function fullBucket(burst: number, now: number): Bucket {
  return { tokens: burst, at: now }
}

/**
 * The bucket after one event at `now`: refilled at `perSecond` up to `burst`, less one token; or
 * null when no whole token is left, i.e. the event is over the rate.
 */
export function spend(bucket: Bucket, now: number, perSecond: number, burst: number): Bucket | null {
  const tokens = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.at) * perSecond) / 1000)
  return tokens < 1 ? null : { tokens: tokens - 1, at: now }
}
