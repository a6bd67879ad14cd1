/**
 * The task file `fedtune demo` writes: a small head on the frozen backbone, the task file's
 * defaults for everything else (test/coordinator/task-schema.test.ts checks it against the schema).
 */
export function demoTask(spec: {
  readonly dataset: string
  readonly hospitals: number
  readonly rounds: number
  readonly volunteers: boolean
  readonly backboneDir: string
  readonly digest: string
  readonly labels: readonly string[]
  /** The coordinator's validation images (`fedtune data split` writes the official val split there); null without. */
  readonly validation: string | null
  readonly test: string
}): Record<string, unknown> {
  const { dataset, hospitals, rounds, volunteers } = spec
  return {
    name: `${dataset}-demo`,
    description: `The fedtune demo on ${dataset} from MedMNIST: ${hospitals} simulated hospitals${volunteers ? ' and browser volunteers' : ''} fine-tune a small head on a frozen MobileNet.`,
    backbone: { source: spec.backboneDir, sha256: spec.digest },
    head: {
      layers: [
        { type: 'dense', units: 256, activation: 'relu' },
        { type: 'dropout', rate: 0.2 },
      ],
      labels: spec.labels,
      seed: 42,
    },
    // The loss and class weights are left to the task file's defaults, the choice for real deployments.
    training: { rounds, localEpochs: 2, batchSize: 32, optimizer: 'adam', learningRate: 0.001 },
    participation: {
      minParticipants: hospitals,
      // A volunteer takes a place when one is online; rounds never wait for one.
      participantsPerRound: hospitals + (volunteers ? 1 : 0),
      roundDeadlineSeconds: 600,
      joinTimeoutSeconds: 900,
      ...(volunteers ? { browsers: { enabled: true, maxPerRound: 1 } } : {}),
    },
    // The best round is chosen on validation (AUC, the default), reported on test.
    evaluation: {
      ...(spec.validation === null ? {} : { validation: spec.validation }),
      test: spec.test,
    },
    // The demo enrols its hospitals as an operator would: one invite each, issued before they start.
    enrolment: { hospitals: 'invite' },
  }
}
