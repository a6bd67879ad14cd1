export { backboneListing } from './backbone-listing.ts'
export { describe } from './describe.ts'
export { ProtocolError, type ProtocolErrorCode } from './errors.ts'
export { applyWeightedSum, type Contribution, fedAvg, weightedSum } from './fedavg.ts'
export {
  type HeadLayer,
  type HeadSpec,
  type ParamShape,
  paramCount,
  paramShapes,
  parseHeadSpec,
} from './head-spec.ts'
export * from './messages.ts'
export { asBytes, decodeWeights, encodeWeights } from './weights.ts'
