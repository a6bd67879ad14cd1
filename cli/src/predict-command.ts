import { readdir, readFile, stat } from 'node:fs/promises'
import { extname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { classify, disposeModel, type Pixels } from '@fedtune/model'
import { decodeImage, initBackend, loadModelFolder, progressBar } from '@fedtune/model/node'
import { escapeText } from '@fedtune/protocol'
import { commandLine } from './api-command.ts'
import { CommandError, type CommandIo, processIo, usageAsked } from './command-io.ts'

const USAGE = `Usage: fedtune predict --model <dir> [--json] <images or folders…>

Runs a model folder written by "fedtune model export" on your images: each PNG, JPEG or DICOM file
(recognised by content; folders are searched for .png, .jpg, .jpeg and .dcm files, subfolders too) is prepared as the model card says (RGB,
bilinear resize to the model's input size, scaled to [-1, 1]) and classified. One line per image:
the file, the predicted label and its probability. An image that cannot be read is reported and
the others are still predicted (exit code 1 then). Runs on the TensorFlow.js wasm backend unless
@tensorflow/tfjs-node is installed.

Options:
  --model <dir>          the model folder: model.json, weights.bin, model-card.json (required)
  --json                 one JSON document: every image's label and probabilities, and the errors
  -h, --help             this text
`

const IMAGE = new Set(['.png', '.jpg', '.jpeg', '.dcm'])
/** Images decoded and classified at once: bounds memory whatever the number of files. */
const BATCH = 32

type Prediction = {
  readonly file: string
  readonly label: string
  readonly probability: number
  readonly probabilities: Record<string, number>
}

/** `fedtune predict`: a downloaded model on a user's images. */
export async function runPredictCommand(
  argv: string[],
  io: CommandIo = processIo(),
  bars: NodeJS.WriteStream | undefined = process.stderr,
): Promise<number> {
  try {
    return await predict(argv, io, bars)
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    io.stderr(`fedtune predict: ${error.message}\n${error.exitCode === 2 ? `\n${USAGE}` : ''}`)
    return error.exitCode
  }
}

async function predict(argv: string[], io: CommandIo, bars: NodeJS.WriteStream | undefined): Promise<number> {
  const usage = usageAsked(argv, USAGE, io)
  if (usage !== null) return usage
  const { values, positionals } = commandLine(() =>
    parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { model: { type: 'string' }, json: { type: 'boolean' } },
    }),
  )
  if (values.model === undefined) throw new CommandError('--model <dir> is required', 2)
  if (positionals.length === 0) throw new CommandError('expected at least one image or folder', 2)
  const files = await imagesOf(positionals)
  if (files.length === 0)
    throw new CommandError(
      `no .png, .jpg, .jpeg or .dcm files in ${positionals.map((p) => escapeText(p, 80)).join(', ')}`,
    )
  const backend = await initBackend()
  io.stderr(`backend: ${backend.detail}\n`)
  let loaded: Awaited<ReturnType<typeof loadModelFolder>>
  try {
    loaded = await loadModelFolder(values.model)
  } catch (error) {
    throw new CommandError(`cannot use ${escapeText(values.model)} as a model: ${(error as Error).message}`)
  }
  const { card, model } = loaded
  const errors: { file: string; error: string }[] = []
  const predictions: Prediction[] = []
  const bar = bars && files.length > BATCH ? progressBar('predicting', files.length, bars) : undefined
  try {
    for (let start = 0; start < files.length; start += BATCH) {
      const batch: { file: string; pixels: Pixels }[] = []
      for (const file of files.slice(start, start + BATCH)) {
        try {
          batch.push({ file, pixels: await decodeImage(new Uint8Array(await readFile(file)), file) })
        } catch (error) {
          errors.push({ file, error: (error as Error).message })
          io.stderr(`fedtune predict: ${escapeText((error as Error).message, 300)}\n`)
        }
      }
      if (batch.length > 0) {
        const probs = classify(
          model,
          batch.map((b) => b.pixels),
          card.preprocessing.inputSize,
        )
        const classes = card.labels.length
        for (const [i, { file }] of batch.entries()) {
          const row = Array.from(probs.subarray(i * classes, (i + 1) * classes))
          const best = row.indexOf(Math.max(...row))
          const p: Prediction = {
            file,
            label: card.labels[best] as string,
            probability: row[best] as number,
            probabilities: Object.fromEntries(card.labels.map((l, c) => [l, row[c] as number])),
          }
          predictions.push(p)
          if (!values.json)
            io.stdout(`${escapeText(file)}\t${escapeText(p.label, 80)}\t${p.probability.toFixed(3)}\n`)
        }
      }
      bar?.tick(Math.min(BATCH, files.length - start))
    }
    bar?.done()
  } finally {
    // a model with views calls the backbone's layers once per view: freed for every call
    disposeModel(model)
  }
  if (values.json)
    io.stdout(
      `${JSON.stringify(
        {
          model: { task: card.task.name, run: card.run.id, round: card.run.round, labels: card.labels },
          backend: backend.backend,
          predictions,
          errors,
        },
        null,
        2,
      )}\n`,
    )
  else
    io.stderr(
      `${predictions.length} image${predictions.length === 1 ? '' : 's'} predicted by the model of run ${card.run.id}, round ${card.run.round} (task ${escapeText(card.task.name, 64)})${errors.length > 0 ? `; ${errors.length} could not be read` : ''}\n`,
    )
  return errors.length > 0 ? 1 : 0
}

/** The image files named, and those in the folders named (recursively, sorted); a missing path is refused. */
async function imagesOf(paths: readonly string[]): Promise<string[]> {
  const out: string[] = []
  for (const p of paths) {
    let info: Awaited<ReturnType<typeof stat>>
    try {
      info = await stat(p)
    } catch (error) {
      throw new CommandError(
        `${escapeText(p)}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      )
    }
    if (!info.isDirectory()) {
      out.push(p)
      continue
    }
    const entries = (await readdir(p, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile() && IMAGE.has(extname(e.name).toLowerCase()) && !e.name.startsWith('.'))
      .map((e) => join(e.parentPath ?? e.path, e.name))
      .sort()
    out.push(...entries)
  }
  return out
}
