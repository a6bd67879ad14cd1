import { StoreError, type StoreErrorCode } from '@fedtune/coordinator/store'

/** The StoreError a promise rejects with, checked for its code; anything else fails the test with what arrived. */
export async function refusal(promise: Promise<unknown>, code?: StoreErrorCode): Promise<StoreError> {
  const outcome = await promise.then(
    (value: unknown) => ({ resolved: value }),
    (error: unknown) => ({ rejected: error }),
  )
  if (!('rejected' in outcome))
    throw new Error(`expected a StoreError, the promise resolved: ${JSON.stringify(outcome.resolved)}`)
  const error = outcome.rejected
  if (!(error instanceof StoreError)) throw new Error(`expected a StoreError, got ${String(error)}`)
  if (code !== undefined && error.code !== code)
    throw new Error(`expected a StoreError '${code}', got '${error.code}': ${error.message}`)
  return error
}
