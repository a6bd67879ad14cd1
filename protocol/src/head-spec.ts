import { describe } from './describe.ts'
import { ProtocolError } from './errors.ts'

/**
 * The trainable head that sits on the frozen backbone's embedding. Its parameters travel as one
 * flat Float32Array in the order `paramShapes` gives (kernel then bias, layer by layer), which is
 * the vector that FedAvg averages and that later gets clipped, quantized and masked.
 */
export type HeadLayer =
  | { readonly type: 'dense'; readonly units: number; readonly activation: 'relu' | 'linear' }
  | { readonly type: 'dropout'; readonly rate: number }

export type HeadSpec = {
  /** Hidden layers; the output layer (dense, one unit per label, softmax) is implied by `labels`. */
  readonly layers: readonly HeadLayer[]
  readonly labels: readonly string[]
}

export type ParamShape = {
  readonly name: string
  readonly shape: readonly [number, number] | readonly [number]
}

/** Kernel and bias shapes of every dense layer, the softmax output last. */
export function paramShapes(spec: HeadSpec, inputDim: number): ParamShape[] {
  checkPositiveInt(inputDim, 'inputDim')
  const shapes: ParamShape[] = []
  let width = inputDim
  let dense = 0
  for (const layer of spec.layers) {
    if (layer.type !== 'dense') continue
    shapes.push({ name: `dense${dense}/kernel`, shape: [width, layer.units] })
    shapes.push({ name: `dense${dense}/bias`, shape: [layer.units] })
    width = layer.units
    dense++
  }
  shapes.push({ name: 'output/kernel', shape: [width, spec.labels.length] })
  shapes.push({ name: 'output/bias', shape: [spec.labels.length] })
  return shapes
}

export function paramCount(spec: HeadSpec, inputDim: number): number {
  let count = 0
  for (const { shape } of paramShapes(spec, inputDim)) count += shape.reduce((a, b) => a * b, 1)
  return count
}

/** Validates a head spec that arrived from outside (a task file, a socket message). */
export function parseHeadSpec(value: unknown, where = 'head'): HeadSpec {
  if (typeof value !== 'object' || value === null) throw invalid(`${where}: expected an object`, value)
  const { layers: rawLayers, labels: rawLabels } = value as Record<string, unknown>
  if (!Array.isArray(rawLayers)) throw invalid(`${where}.layers: expected an array of layers`, rawLayers)
  if (!Array.isArray(rawLabels))
    throw invalid(`${where}.labels: expected at least two non-empty class names`, rawLabels)
  // Array.from turns a hole into undefined, which is refused below; map and every would skip it.
  const layers: unknown[] = Array.from(rawLayers)
  const labels: unknown[] = Array.from(rawLabels)
  if (labels.length < 2 || !labels.every((l) => typeof l === 'string' && l.length > 0))
    throw invalid(`${where}.labels: expected at least two non-empty class names`, labels)
  if (new Set(labels).size !== labels.length)
    throw invalid(`${where}.labels: expected distinct class names`, labels)
  const parsed = layers.map((layer, i): HeadLayer => {
    const at = `${where}.layers[${i}]`
    if (typeof layer !== 'object' || layer === null) throw invalid(`${at}: expected an object`, layer)
    const l = layer as Record<string, unknown>
    if (l.type === 'dense') {
      if (!Number.isInteger(l.units) || (l.units as number) < 1 || (l.units as number) > 65536)
        throw invalid(`${at}.units: expected an integer from 1 to 65536`, l.units)
      const activation = l.activation ?? 'relu'
      if (activation !== 'relu' && activation !== 'linear')
        throw invalid(`${at}.activation: expected "relu" or "linear"`, activation)
      return { type: 'dense', units: l.units as number, activation }
    }
    if (l.type === 'dropout') {
      if (typeof l.rate !== 'number' || !(l.rate >= 0 && l.rate < 1))
        throw invalid(`${at}.rate: expected a number in [0, 1)`, l.rate)
      return { type: 'dropout', rate: l.rate }
    }
    throw invalid(`${at}.type: expected "dense" or "dropout"`, l.type)
  })
  return { layers: parsed, labels: [...(labels as string[])] }
}

function checkPositiveInt(n: number, name: string): void {
  if (!Number.isInteger(n) || n < 1)
    throw new ProtocolError('invalid-spec', `${name}: expected a positive integer, got ${n}`)
}

function invalid(message: string, got: unknown): ProtocolError {
  // describe, not JSON.stringify: that throws at a BigInt or a few thousand levels of nesting
  return new ProtocolError('invalid-spec', `${message}, got ${typeof got === 'number' ? got : describe(got)}`)
}
