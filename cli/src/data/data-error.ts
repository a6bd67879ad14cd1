/**
 * Stable codes for failures of the data tool. A code is for programs, the message for people:
 * it names the file or option and says what was expected and what arrived.
 */
export type DataErrorCode =
  | 'not-a-zip'
  | 'truncated'
  | 'unsupported-zip'
  | 'corrupt'
  | 'bad-npy'
  | 'unsupported-dtype'
  | 'bad-dataset'
  | 'bad-option'
  | 'impossible-partition'
  | 'out-dir-not-empty'

export class DataError extends Error {
  readonly code: DataErrorCode

  constructor(code: DataErrorCode, message: string) {
    super(message)
    this.name = 'DataError'
    this.code = code
  }
}
