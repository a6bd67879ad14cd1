import { readFile } from 'node:fs/promises'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { disposeModel } from '../dispose-model.ts'
import { type AnyModelCard, parseModelCard } from '../model-card.ts'
import { parseModelJson } from '../model-json.ts'

export const MODEL_CARD_FILE = 'model-card.json'

/**
 * Loads a model folder (model.json, its weight files, model-card.json) as `fedtune model export`
 * writes it, through `tf.loadLayersModel` with a handler that reads the files. Refused with an
 * error naming the file and what is wrong: a file missing, a card that is not one, a model whose
 * input or output does not match the card. The caller owns the model.
 */
export async function loadModelFolder(dir: string): Promise<{ card: AnyModelCard; model: tf.LayersModel }> {
  const cardFile = path.join(dir, MODEL_CARD_FILE)
  const jsonFile = path.join(dir, 'model.json')
  const card = parseModelCard(parseJson(await readNamed(cardFile, 'the model card'), cardFile), cardFile)
  const { json } = parseModelJson(await readNamed(jsonFile, 'the TF.js model'), jsonFile)
  const model = await tf.loadLayersModel(filesHandler(dir, json))
  try {
    const input = model.inputs[0]?.shape
    const size = card.preprocessing.inputSize
    if (model.inputs.length !== 1 || input?.[1] !== size || input[2] !== size || input[3] !== 3)
      throw new Error(
        `${jsonFile}: expected one image input [null, ${size}, ${size}, 3] as ${MODEL_CARD_FILE} says, got ${JSON.stringify(model.inputs.map((i) => i.shape))}`,
      )
    const output = model.outputs[0]?.shape
    if (model.outputs.length !== 1 || output?.length !== 2 || output[1] !== card.labels.length)
      throw new Error(
        `${jsonFile}: the model outputs ${JSON.stringify(model.outputs.map((o) => o.shape))}, but ${MODEL_CARD_FILE} names ${card.labels.length} labels (${card.labels.join(', ')}); expected one output [null, ${card.labels.length}]`,
      )
    return { card, model }
  } catch (error) {
    disposeModel(model)
    throw error
  }
}

/** A tf.io handler reading model.json's weight files from `dir`, each named when missing. */
function filesHandler(dir: string, json: tf.io.ModelJSON): tf.io.IOHandler {
  return {
    load: () =>
      tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights)
        const parts: Uint8Array[] = []
        for (const group of manifest)
          for (const p of group.paths)
            parts.push(await readNamed(path.join(dir, p), 'a weight file of model.json'))
        const total = parts.reduce((n, b) => n + b.byteLength, 0)
        const buffer = new Uint8Array(total)
        let at = 0
        for (const part of parts) {
          buffer.set(part, at)
          at += part.byteLength
        }
        return [specs, buffer.buffer]
      }),
  }
}

async function readNamed(file: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file))
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new Error(
      code === 'ENOENT'
        ? `${file}: missing; expected ${what} here (a folder written by fedtune model export holds model.json, weights.bin and ${MODEL_CARD_FILE})`
        : `${file}: cannot read ${what} (${(error as Error).message})`,
    )
  }
}

function parseJson(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes))
  } catch (error) {
    throw new Error(`${where}: expected JSON, but it does not parse (${(error as Error).message})`)
  }
}
