/** A file that is not an image we can read; the message names the file, `reason` says why alone. */
export class ImageError extends Error {
  readonly file: string
  readonly reason: string

  constructor(file: string, reason: string) {
    super(`${file}: ${reason}`)
    this.name = 'ImageError'
    this.file = file
    this.reason = reason
  }
}
