import { readBackboneSource } from '@fedtune/model/node'

const USAGE = `Usage: fedtune backbone digest <folder | http(s) URL of a model.json>

Prints the SHA-256 digest of a TensorFlow.js layers model (model.json and its weight files): the
value a task file's backbone.sha256 needs. It is the SHA-256 of the sha256sum-style listing of
the files, model.json first, then the weight files in the order model.json lists them, so for a
folder

  (cd <folder> && sha256sum model.json <weight files…>) | sha256sum

gives the same value by hand. A URL's model.json and weight files (relative to it) are fetched
once and kept nowhere: the digest says what that server gave this time, which every participant
then checks it gives them too.
`

export async function runBackboneCommand(argv: string[]): Promise<number> {
  const [sub, dir, ...extra] = argv
  if (sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE)
    return 0
  }
  if (sub !== 'digest' || dir === undefined || dir === '--help' || extra.length > 0) {
    if (dir === '--help') {
      process.stdout.write(USAGE)
      return 0
    }
    process.stderr.write(
      `fedtune backbone: expected "digest <folder or URL>", got "${argv.join(' ')}"\n\n${USAGE}`,
    )
    return 2
  }
  try {
    const { digest, files } = await readBackboneSource(dir)
    for (const f of files) process.stdout.write(`${f.sha256}  ${f.name}\n`)
    process.stdout.write(`digest: ${digest}\n`)
    return 0
  } catch (error) {
    process.stderr.write(`fedtune backbone: ${(error as Error).message}\n`)
    return 1
  }
}
