import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { headlineFigures, isSafeRelative, MODEL_CARD_FORMAT, parseModelCard } from '@fedtune/model'
import { escapeText } from '@fedtune/protocol'
import { apiClientFrom } from './api-client.ts'
import { API_OPTIONS, apiCommand, commandLine } from './api-command.ts'
import { CommandError, type CommandIo, processIo, usageAsked } from './command-io.ts'
import { readZip } from './data/zip.ts'
import { positiveInteger } from './numbers.ts'

const USAGE = `Usage: fedtune model export --run <id> [--round <n>] --out <dir> [options]

Downloads a run's trained model from the coordinator (viewers and up) and unpacks it into <dir>:
model.json and weights.bin (the frozen backbone and the federation's head as ONE TensorFlow.js
layers model: tf.loadLayersModel loads it), model-card.json (task, rounds, labels in output order,
preprocessing, examples, which round and why, its validation and test metrics, the prior it
predicts with, privacy settings) and README.md. The head predicts with its round's prior folded in.
Run it on images with: fedtune predict --model <dir> <images or folders>

Options:
  --run <id>             the run (fedtune runs lists them)                    (required)
  --round <n>            the model after round n (default: the best round by the task's validation
                         metric, else the last aggregated round)
  --out <dir>            the folder to write, new or empty                    (required)
  --force                write into a folder that holds files, replacing the model's files
  --coordinator <url>    the coordinator (default: FEDTUNE_COORDINATOR)
  --token-file <file>    a file holding an API token (default: FEDTUNE_TOKEN)
  --json                 print the model card as JSON instead of a summary
  -h, --help             this text
`

const FILES = ['model.json', 'weights.bin', 'model-card.json', 'README.md']

/** `fedtune model export`: GET /api/runs/:id/model, unzipped into a folder. */
export function runModelCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return apiCommand('model', USAGE, io, async () => {
    const usage = usageAsked(argv, USAGE, io)
    if (usage !== null) return usage
    const { values, positionals } = commandLine(() =>
      parseArgs({
        args: argv,
        strict: true,
        allowPositionals: true,
        options: {
          ...API_OPTIONS,
          run: { type: 'string' },
          round: { type: 'string' },
          out: { type: 'string' },
          force: { type: 'boolean' },
        },
      }),
    )
    const [action, ...extra] = positionals
    if (action !== 'export')
      throw new CommandError(`expected export, got "${escapeText(action ?? '', 40)}"`, 2)
    if (extra.length > 0)
      throw new CommandError(`unexpected arguments: ${escapeText(extra.join(' '), 80)}`, 2)
    if (values.run === undefined) throw new CommandError('export needs --run <id>', 2)
    if (values.out === undefined) throw new CommandError('export needs --out <dir>', 2)
    const id = positiveInteger('--run', values.run)
    const round = values.round === undefined ? undefined : positiveInteger('--round', values.round)
    const out = resolve(values.out)
    const held = entriesOf(out)
    if (held.length > 0 && !values.force)
      throw new CommandError(
        `expected an empty or new folder, got ${escapeText(out)} holding ${held.length} entr${held.length === 1 ? 'y' : 'ies'}; pass --force to replace the model's files in it (${FILES.join(', ')})`,
      )
    const client = await apiClientFrom(
      { coordinator: values.coordinator, tokenFile: values['token-file'] },
      io.env,
    )
    const source = `/api/runs/${id}/model${round === undefined ? '' : `?round=${round}`}`
    const zip = await client.bytes(source)
    let files: Map<string, Uint8Array>
    try {
      files = readZip(zip, `the model of run ${id}`)
    } catch (error) {
      throw new CommandError(`the coordinator's answer is not a whole zip: ${(error as Error).message}`)
    }
    for (const name of FILES)
      if (!files.has(name))
        throw new CommandError(
          `the coordinator's model of run ${id} holds ${[...files.keys()].map((n) => escapeText(n, 60)).join(', ')}; expected ${FILES.join(', ')}`,
        )
    for (const name of files.keys())
      if (!isSafeRelative(name) || name.includes('/'))
        throw new CommandError(`the model's zip names a file outside its folder: ${escapeText(name, 80)}`)
    let card: ReturnType<typeof parseModelCard>
    try {
      card = parseModelCard(
        JSON.parse(new TextDecoder().decode(files.get('model-card.json'))),
        'the downloaded model-card.json',
      )
    } catch (error) {
      throw new CommandError((error as Error).message)
    }
    mkdirSync(out, { recursive: true })
    for (const [name, bytes] of files) writeFileSync(join(out, name), bytes)
    // a card of the format before validation sets (an older coordinator's) does not say why its round
    const why = card.format === MODEL_CARD_FORMAT ? ` (${escapeText(card.chosen.why, 200)})` : ''
    const m = headlineFigures(card)
    const metrics = m
      ? `${m.set} accuracy ${(m.accuracy * 100).toFixed(1)} %${m.auc === null ? '' : `, AUC ${m.auc.toFixed(3)}`} on ${m.examples} images`
      : 'no validation or test set'
    io.stdout(
      values.json
        ? `${JSON.stringify(card, null, 2)}\n`
        : `wrote the model of run ${card.run.id} (task ${escapeText(card.task.name, 64)}) after round ${card.run.round}${why} to ${escapeText(out)}: ${card.labels.length} labels (${card.labels.map((l) => escapeText(l, 40)).join(', ')}), ${metrics}\nrun it: fedtune predict --model ${escapeText(out)} <images or folders>\n`,
    )
    return 0
  })
}

function entriesOf(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new CommandError(
        `cannot use ${escapeText(dir)} as the model's folder: ${(error as Error).message}`,
      )
    return []
  }
}
