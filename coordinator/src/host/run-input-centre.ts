import { readFile } from 'node:fs/promises'
import { type Dataset, meanEmbedding } from '@fedtune/model'
import { writeFileAtomic } from '@fedtune/model/node'
import { inputCentreFile, RunFolderError } from '../store/run-folder.ts'

/**
 * A run's input centre μ (`head.inputCentre`), fixed for the whole run: computed once from the
 * validation embeddings when the run starts and kept in its folder (input-centre.json), so a
 * resumed run, its participants and its exported model use the very μ its first rounds used, even
 * if the validation folder changed since (then `warn` says so). null with `mode` "none" (or a run
 * kept before the field existed, whose settings lack it).
 */
export async function runInputCentre(o: {
  readonly dir: string
  readonly mode: 'validation' | 'none' | undefined
  readonly validation: Dataset | null
  readonly warn: (message: string) => void
}): Promise<Float32Array | null> {
  if (o.mode !== 'validation') return null
  const file = inputCentreFile(o.dir)
  const kept = await readInputCentre(o.dir)
  const fresh = o.validation && o.validation.n > 0 ? meanEmbedding(o.validation) : null
  if (kept !== null) {
    if (fresh !== null && !sameCentre(kept, fresh))
      o.warn(
        `the validation set's mean embedding differs from the one this run started with (${file}); the run keeps its own, so its heads stay comparable`,
      )
    return kept
  }
  if (fresh === null)
    throw new RunFolderError(
      `head.inputCentre "validation": expected validation embeddings to take the mean of, got ${o.validation === null ? 'no validation set' : 'an empty validation set'}`,
    )
  await writeFileAtomic(file, new TextEncoder().encode(`${JSON.stringify({ centre: Array.from(fresh) })}\n`))
  return fresh
}

/** The centre kept in run folder `dir`, or null when it holds none; a damaged file is refused, saying so. */
export async function readInputCentre(dir: string): Promise<Float32Array | null> {
  const file = inputCentreFile(dir)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
  let centre: unknown
  try {
    centre = (JSON.parse(text) as { centre?: unknown }).centre
  } catch (error) {
    throw new RunFolderError(`${file}: expected JSON, got ${(error as Error).message}`)
  }
  if (
    !Array.isArray(centre) ||
    centre.length === 0 ||
    !centre.every((v) => typeof v === 'number' && Number.isFinite(v))
  )
    throw new RunFolderError(`${file}: expected { "centre": [finite numbers…] }, got something else`)
  return Float32Array.from(centre as number[])
}

function sameCentre(a: Float32Array, b: Float32Array): boolean {
  return (
    a.length === b.length && a.every((v, i) => Math.abs(v - (b[i] as number)) <= 1e-5 * (1 + Math.abs(v)))
  )
}
