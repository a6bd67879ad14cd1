/** The store's clock: every created_at, expiry check and audit time is read from it, so tests choose the time. */
export type StoreClock = () => Date
