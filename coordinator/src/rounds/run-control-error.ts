/**
 * An operator's run-control request the run cannot carry out: 'conflict' when the run is not in a
 * state that allows it (no round running, already paused, finished: HTTP 409), 'invalid' when the
 * request itself is wrong (a non-positive number of seconds: HTTP 400). The message says what was
 * expected and what was found.
 */
export class RunControlError extends Error {
  readonly code: 'conflict' | 'invalid'

  constructor(code: 'conflict' | 'invalid', message: string) {
    super(message)
    this.name = 'RunControlError'
    this.code = code
  }
}
