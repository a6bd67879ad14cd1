export {
  type ComparisonRow,
  comparisonRows,
  comparisonTable,
  type Figures,
  figuresOf,
  METRIC_NAMES,
  meanFigures,
} from './comparison.ts'
export { type HeadChoice, type HeldOut, predictionPrior, scoreHead, withPrior } from './held-out.ts'
export {
  type FederatedChoice,
  type FederationRecipe,
  type RoundProgress,
  simulateFederation,
  trainingPart,
} from './simulate-federation.ts'
export {
  type PrivacySpent,
  type SimulatedPrivacy,
  simulatedPrivacy,
  simulationSource,
  spentText,
} from './simulated-privacy.ts'
export {
  pool,
  privateReference,
  runSimulation,
  type SimulationProgress,
  type SimulationReport,
  type Site,
} from './simulation.ts'
export {
  type EpochProgress,
  REFERENCE_TRAINING,
  type ReferenceRecipe,
  trainReference,
} from './train-reference.ts'
