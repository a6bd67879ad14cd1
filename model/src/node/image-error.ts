/** A file that is not an image we can read; the message names the file. */
export class ImageError extends Error {
  readonly file: string

  constructor(file: string, message: string) {
    super(message)
    this.name = 'ImageError'
    this.file = file
  }
}
