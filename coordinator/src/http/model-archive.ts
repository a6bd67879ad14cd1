import { readFile } from 'node:fs/promises'
import {
  composeModel,
  disposeModel,
  foldCentre,
  foldPrior,
  modelCardReadme,
  modelFiles,
  WEIGHTS_FILE,
} from '@fedtune/model'
import { loadTaskBackbone, MODEL_CARD_FILE } from '@fedtune/model/node'
import { decodeWeights, paramCount } from '@fedtune/protocol'
import type { LayersModel } from '@tensorflow/tfjs'
import { readInputCentre } from '../host/run-input-centre.ts'
import { fedtuneVersion } from '../install/version.ts'
import type { RoundRecord } from '../rounds/round-record.ts'
import type { Run } from '../store/index.ts'
import { RunFolderError } from '../store/run-folder.ts'
import type { TaskFile } from '../tasks/task-file.ts'
import { modelCardOf } from './model-card-of.ts'
import { storedZip } from './zip-store.ts'

/** A model that cannot be built from what the coordinator kept: its backbone or head file is gone or changed. */
export class ModelArchiveError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ModelArchiveError'
  }
}

/**
 * The whole model after one round, as one zip: the run's backbone (checked against the task's
 * digest) and that round's global head, its prior folded in (round-prior.ts), composed into one TF.js layers model (model.json,
 * weights.bin) that averages the task's views of each image, its model-card.json and a README.md. Built on request; every tensor is freed.
 */
export async function modelArchive(o: {
  readonly run: Run
  readonly task: TaskFile
  readonly record: RoundRecord
  /** Why this round's head (round-head.ts); the card says it. */
  readonly chosen: 'asked' | 'best' | 'last'
  readonly records: readonly RoundRecord[]
  readonly headFile: string
  readonly cacheDir: string
  readonly now?: Date
}): Promise<{ readonly bytes: Uint8Array; readonly filename: string }> {
  const { task, record } = o
  let head: Uint8Array
  try {
    head = new Uint8Array(await readFile(o.headFile))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    throw new ModelArchiveError(
      `run ${o.run.id}'s head after round ${record.round} was kept in a file that is no longer there; its round's row remains`,
    )
  }
  // the run's centre, as its rounds used it (run-input-centre.ts); folded into the head below
  let centre: Float32Array | null = null
  if (task.head.inputCentre === 'validation') {
    try {
      centre = o.run.folder === null ? null : await readInputCentre(o.run.folder)
    } catch (error) {
      if (!(error instanceof RunFolderError)) throw error
      throw new ModelArchiveError(`run ${o.run.id}'s input centre: ${error.message}`)
    }
    if (centre === null)
      throw new ModelArchiveError(
        `run ${o.run.id} centred its head's inputs on its validation set's mean, kept in its folder, which no longer holds it`,
      )
  }
  let backbone: Awaited<ReturnType<typeof loadTaskBackbone>>['backbone']
  try {
    backbone = (await loadTaskBackbone(task.backbone.source, task.backbone.sha256, o.cacheDir)).backbone
  } catch (error) {
    throw new ModelArchiveError(
      `run ${o.run.id}'s backbone ${task.backbone.source} cannot be loaded as the run used it: ${(error as Error).message}`,
    )
  }
  const spec = { layers: task.head.layers, labels: task.head.labels }
  let files: Awaited<ReturnType<typeof modelFiles>>
  let model: LayersModel | undefined
  try {
    const raw = decodeWeights(
      head,
      paramCount(spec, backbone.embeddingDim),
      `run ${o.run.id}'s head after round ${record.round}`,
    )
    // the model predicts as the coordinator measured it: with its round's prior in the output bias
    const prior = record.prior ?? null
    // and on raw embeddings as the head did on centred ones: b − Wᵀμ in its first layer
    const uncentred = centre === null ? raw : foldCentre(spec, backbone.embeddingDim, raw, centre)
    const weights = prior === null ? uncentred : foldPrior(spec, backbone.embeddingDim, uncentred, prior)
    // the head on the mean of the views' embeddings, as the run's participants embedded its inputs
    model = composeModel(backbone, spec, weights, task.backbone.views)
    files = await modelFiles(model)
  } finally {
    // the model holds the backbone's layers (called once per view) and the head's: this frees both
    if (model) disposeModel(model)
    else backbone.dispose()
  }
  const card = modelCardOf({
    run: o.run,
    task,
    record,
    chosen: o.chosen,
    records: o.records,
    inputSize: backbone.inputSize,
    embeddingDim: backbone.embeddingDim,
    inputCentre: centre,
    version: fedtuneVersion(),
    now: o.now ?? new Date(),
  })
  const text = (s: string) => new TextEncoder().encode(s)
  return {
    bytes: storedZip([
      { name: 'model.json', bytes: text(JSON.stringify(files.modelJson)) },
      { name: WEIGHTS_FILE, bytes: files.weights },
      { name: MODEL_CARD_FILE, bytes: text(`${JSON.stringify(card, null, 2)}\n`) },
      { name: 'README.md', bytes: text(modelCardReadme(card)) },
    ]),
    filename: `${task.name}-run${o.run.id}-round${record.round}-model.zip`,
  }
}
