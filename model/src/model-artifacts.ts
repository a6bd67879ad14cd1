import * as tf from '@tensorflow/tfjs'

/** A layers model as the files of its folder: model.json and one weights file it names. */
export type ModelFiles = {
  readonly modelJson: tf.io.ModelJSON
  readonly weights: Uint8Array
}

export const WEIGHTS_FILE = 'weights.bin'

/**
 * Serializes `model` as `tf.io` would save it to files, without a file system: a save handler
 * receives the topology, weight specs and one weight buffer, which become model.json (its manifest
 * naming `weights.bin`) and that file's bytes.
 */
export async function modelFiles(model: tf.LayersModel): Promise<ModelFiles> {
  let saved: ModelFiles | undefined
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      if (artifacts.modelTopology === undefined || artifacts.weightSpecs === undefined)
        throw new Error('modelFiles: expected the model to save its topology and weight specs')
      const data = artifacts.weightData
      const buffer = data === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(data)
      saved = {
        modelJson: {
          modelTopology: artifacts.modelTopology,
          format: artifacts.format ?? 'layers-model',
          generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
          convertedBy: null,
          weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs }],
        },
        weights: new Uint8Array(buffer),
      }
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) }
    }),
  )
  if (saved === undefined) throw new Error('modelFiles: the model saved nothing')
  return saved
}
