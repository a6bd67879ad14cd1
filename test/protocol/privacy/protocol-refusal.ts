import { ProtocolError } from '@fedtune/protocol'
import { expect } from 'vitest'

/** The message of the ProtocolError `f` throws; the test fails when it throws something else or nothing. */
export function protocolRefusal(f: () => unknown): string {
  try {
    f()
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError)
    return (error as Error).message
  }
  throw new Error('expected a refusal')
}
