import { centreDataset, type Dataset, meanEmbedding, stratifiedSplit } from '@fedtune/model'
import { IMAGE_VIEWS } from '@fedtune/protocol'
import { figuresOf, simulateFederation } from 'fedtune/simulate'
import { markdownTable } from './markdown-table.ts'
import { type AccuracyRecipe, FEDADAM, federationOf, RECIPE } from './recipe.ts'

/** A variant of the recipe in `npm run bench:accuracy -- --tune`, named by what it changes. */
export type TuneCell = { readonly label: string; readonly recipe: AccuracyRecipe }

/** The recipe the first grid was run around (2026-12-03): RECIPE before it, with the embeddings as they are. */
const BEFORE: AccuracyRecipe = { ...RECIPE, layers: [], inputCentre: 'none', views: ['original'] }

/** The recipe the second grid was run around: the first grid's winner (centred inputs), one view. */
const CENTRED: AccuracyRecipe = { ...RECIPE, layers: [], inputCentre: 'validation', views: ['original'] }

/** The recipe the third grid was run around: the second grid's winner (four flips), no dropout. */
const FOUR_FLIPS: AccuracyRecipe = {
  ...CENTRED,
  views: ['original', 'horizontal-flip', 'vertical-flip', 'rotate-180'],
}

/** The recipe the fourth and fifth grids were run around: the third grid's winner (input dropout 0.2). */
const DROPOUT_02: AccuracyRecipe = { ...FOUR_FLIPS, layers: [{ type: 'dropout', rate: 0.2 }] }

/** The recipe the "turns" grid was run around: the fourth grid's winner (input dropout 0.1), four flips. */
const DROPOUT_01: AccuracyRecipe = { ...FOUR_FLIPS, layers: [{ type: 'dropout', rate: 0.1 }] }

/**
 * The validation grids, each fixed before it ran; the first cell of each is the recipe it was run
 * around, and a variant replaces the recipe only if it scores higher.
 *
 * "centring" (`--tune --grid centring`, seeds 1 and 2, 2026-12-03): the recipe as it was first, then
 * one change at a time (the choosing metric, centred inputs, a longer run, the server's rate, a hidden
 * layer) and the two first changes together. It scored "inputs centred on the validation mean"
 * highest, 0.8116 against 0.7972 (next: 400 rounds, 0.8022): Breast +4.7 and +6.3 points ACC, +0.036
 * and +0.016 AUC (MobileNetV2, V1); Retina V2 +2.0 points ACC, −0.015 AUC, V1 +0.6, −0.006; Pneumonia
 * level. So RECIPE centres its inputs.
 *
 * "views" (`--tune`, the default grid; seeds 1 and 2, 2026-12-03): that recipe, then its inputs
 * averaged over the image and its mirror image, and over all four flips (task.backbone.views). It
 * scored all four flips highest, 0.8293 against 0.8116 (the mirror alone: 0.8263): Breast V2 +3.6
 * points val ACC, +0.027 AUC, V1 +1.7, +0.007; Retina V2 +3.4, +0.053, V1 level; Pneumonia +0.8 and
 * +1.3 points, +0.006 and +0.008. So RECIPE averages four flips.
 *
 * "regularize" (`--tune --grid regularize`, seeds 1 and 2, 2026-12-03): the four-flip recipe, then
 * dropout 0.2 on its inputs, and 400 rounds with patience 60. Dropout scored 0.8329 against 0.8293
 * (400 rounds: 0.8319), almost all of it MobileNetV1's Breast (+2.6 points val ACC, +0.021 AUC; the
 * other columns within ±0.2 points and 0.002). By the rule it replaced the recipe (RECIPE's input
 * dropout 0.2, with which the README's test tables were then run).
 *
 * "decay" (`--tune --grid decay`, seeds 1 and 2, 2026-12-03, 51.6 min): that recipe, then input
 * dropout 0.1, 0.3 and 0.5, and the server's decoupled weight decay λ 1 and 10 (η·λ 0.01 and 0.1 a
 * round; `training.server.weightDecay`). Scores: dropout 0.1 0.832983 against the recipe's 0.832887
 * (+0.0001: Breast V2 +1.3 points val ACC, Breast V1 −0.9, the rest within 0.3), 0.3 0.832881,
 * 0.5 0.830639, λ 1 0.830209, λ 10 0.821931 (it lifts Retina V1, +0.8 points and +0.024 AUC, and
 * costs every other column, Pneumonia V2 most). By the rule dropout 0.1 replaced the recipe, by a
 * margin far inside what two seeds resolve (RECIPE's input dropout 0.1, with which the README's test
 * tables were then run). Weight decay is not adopted.
 *
 * "backbones" (`--tune --grid backbones --only "_224+mobilenet"`, seeds 1 and 2, 2026-12-03): the
 * recipe on both backbones' embeddings side by side (2048-d), beside the decay grid's recipe row on
 * the same seeds and halves. Breast 0.900 / 0.941 (V2 0.879 / 0.924, V1 0.906 / 0.927), Pneumonia
 * 0.965 / 0.992 (0.949 / 0.988, 0.956 / 0.990), Retina 0.476 / 0.742 (0.535 / 0.790, 0.438 / 0.714):
 * mean of (ACC + AUC) / 2 over the sets 0.8360, against V2 alone 0.8442 and V1 alone 0.8218. Above
 * either backbone on Breast and Pneumonia, between them on Retina, where MobileNetV1's embeddings
 * pull it down; so a task with two backbones was not built.
 *
 * "turns" (`--tune --grid turns --only retina`, then `--only breast`, `--only "pneumoniamnist ·
 * mobilenet_v2"` and `--only "pneumoniamnist · mobilenet_v1"`, seeds 1 and 2, 2026-12-03): the
 * recipe (four flips, input dropout 0.1), then all eight views (the four flips of the image and of
 * its transpose: every quarter turn and mirror image). All eight scored 0.839298 against the
 * recipe's 0.832983 (+0.0063): Breast V1 +0.4 points val ACC, +0.024 AUC; Breast V2 −0.9, +0.002;
 * Retina V1 +4.0, +0.040; Retina V2 −1.5, −0.006; Pneumonia V2 +0.4, −0.002; Pneumonia V1 −0.5,
 * level. By the rule they replaced the recipe (RECIPE's views: IMAGE_VIEWS, with which the README's
 * test tables were then run).
 */
export const TUNE_GRIDS: Readonly<Record<string, readonly TuneCell[]>> = {
  turns: [
    { label: 'the recipe (four flips, centred, input dropout 0.1)', recipe: DROPOUT_01 },
    {
      label: 'views: all eight (the four flips of the image and of its transpose)',
      recipe: { ...DROPOUT_01, views: IMAGE_VIEWS },
    },
  ],
  // The recipe alone; bench/accuracy.ts adds the column of both backbones' embeddings side by side.
  backbones: [{ label: 'the recipe (four flips, centred, input dropout 0.2)', recipe: DROPOUT_02 }],
  decay: [
    { label: 'the recipe (four flips, centred, input dropout 0.2)', recipe: DROPOUT_02 },
    { label: 'input dropout 0.1', recipe: { ...DROPOUT_02, layers: [{ type: 'dropout', rate: 0.1 }] } },
    { label: 'input dropout 0.3', recipe: { ...DROPOUT_02, layers: [{ type: 'dropout', rate: 0.3 }] } },
    { label: 'input dropout 0.5', recipe: { ...DROPOUT_02, layers: [{ type: 'dropout', rate: 0.5 }] } },
    { label: 'weight decay λ 1', recipe: { ...DROPOUT_02, server: { ...FEDADAM, weightDecay: 1 } } },
    { label: 'weight decay λ 10', recipe: { ...DROPOUT_02, server: { ...FEDADAM, weightDecay: 10 } } },
  ],
  regularize: [
    { label: 'the recipe (four flips, centred)', recipe: FOUR_FLIPS },
    { label: 'input dropout 0.2', recipe: { ...FOUR_FLIPS, layers: [{ type: 'dropout', rate: 0.2 }] } },
    { label: '400 rounds, patience 60', recipe: { ...FOUR_FLIPS, rounds: 400, patience: 60 } },
  ],
  views: [
    { label: 'the recipe (centred inputs, one view)', recipe: CENTRED },
    {
      label: 'views: original + horizontal flip',
      recipe: { ...CENTRED, views: ['original', 'horizontal-flip'] },
    },
    {
      label: 'views: all four flips',
      recipe: FOUR_FLIPS,
    },
  ],
  centring: [
    {
      label: 'the recipe before (AUC choice, raw inputs, rate 0.01, 200 rounds, patience 30)',
      recipe: BEFORE,
    },
    { label: 'chosen on validation ACC', recipe: { ...BEFORE, metric: 'accuracy' } },
    { label: 'inputs centred on the validation mean', recipe: { ...BEFORE, inputCentre: 'validation' } },
    {
      label: 'centred, chosen on ACC',
      recipe: { ...BEFORE, inputCentre: 'validation', metric: 'accuracy' },
    },
    { label: '400 rounds, patience 60', recipe: { ...BEFORE, rounds: 400, patience: 60 } },
    {
      label: 'server rate 0.03',
      recipe: { ...BEFORE, server: { ...BEFORE.server, learningRate: 0.03 } },
    },
    {
      label: 'hidden layer (dense 64, relu)',
      recipe: { ...BEFORE, layers: [{ type: 'dense', units: 64, activation: 'relu' }] },
    },
  ],
}

/** ACC and AUC of a head chosen on one validation half, measured on the other. */
export type HalfFigures = {
  readonly accuracy: number | null
  readonly auc: number | null
  readonly chosen: number
}

/**
 * The official validation split in two stratified halves (seeded): a recipe chooses its round on
 * one and is measured on the other, both ways, so the grid's figures are not the maximum the choice
 * itself picked (a figure chosen on is biased upwards, more so for ACC on a small set). The test
 * split is never read.
 */
export function validationHalves(val: Dataset, seed: number): readonly [Dataset, Dataset] {
  const { train, val: other } = stratifiedSplit(val, 0.5, seed)
  return [train, other]
}

/**
 * One seed of `recipe` federated over `sites`: twice, choosing on each validation half and measured
 * on the other; with centred inputs the centre is the choosing half's mean (the coordinator's
 * validation set), subtracted everywhere.
 */
export function tuneFigures(
  recipe: AccuracyRecipe,
  input: {
    readonly labels: readonly string[]
    readonly val: Dataset
    readonly sites: readonly Dataset[]
    readonly ordinal: boolean
    readonly seed: number
  },
): HalfFigures[] {
  const [a, b] = validationHalves(input.val, input.seed)
  return [
    [a, b],
    [b, a],
  ].map(([choose, measure]) => {
    const centre = recipe.inputCentre === 'validation' ? meanEmbedding(choose as Dataset) : null
    const sites = input.sites.map((site) => centreDataset(site, centre))
    const choice = simulateFederation(
      federationOf(recipe, 'federation', input.labels, input.val.dim, sites.length, input.seed),
      sites,
      {
        validation: centreDataset(choose as Dataset, centre),
        test: centreDataset(measure as Dataset, centre),
        metric: recipe.metric,
        patience: recipe.patience,
        prior: 'federation',
        ordinal: input.ordinal,
      },
    )
    const f = figuresOf(choice, recipe.metric)
    return { accuracy: f.accuracy, auc: f.auc, chosen: f.chosen }
  })
}

/** One cell's figures on one data set, backbone and partition, every seed's two halves. */
export type TuneResult = {
  readonly cell: string
  readonly column: string
  readonly partition: string
  readonly figures: readonly HalfFigures[]
}

const mean = (values: readonly number[]) =>
  values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length

const finite = (values: readonly (number | null)[]) =>
  values.filter((v): v is number => v !== null && Number.isFinite(v))

/**
 * The rule fixed before the grid ran: a cell's score is the mean, over every data set × backbone
 * column (each weighted alike), of (ACC + AUC) / 2 on the measuring halves, averaged over partitions,
 * seeds and halves. The recipe is replaced only by a cell that scores higher.
 */
export function cellScore(results: readonly TuneResult[], cell: string): number {
  const mine = results.filter((r) => r.cell === cell)
  const columns = [...new Set(mine.map((r) => r.column))]
  return mean(
    columns.map((column) => {
      const figures = mine.filter((r) => r.column === column).flatMap((r) => r.figures)
      return (mean(finite(figures.map((f) => f.accuracy))) + mean(finite(figures.map((f) => f.auc)))) / 2
    }),
  )
}

/** The grid's table: one row per cell, validation ACC / AUC per data set × backbone, and the score. */
export function tuneReport(
  grid: readonly TuneCell[],
  results: readonly TuneResult[],
  header: readonly string[],
): string {
  const cells = grid.map((c) => c.label).filter((label) => results.some((r) => r.cell === label))
  const columns = [...new Set(results.map((r) => r.column))]
  const base = cellScore(results, grid[0]?.label ?? '')
  const rows = cells.map((cell) => {
    const score = cellScore(results, cell)
    return [
      cell,
      ...columns.map((column) => {
        const figures = results
          .filter((r) => r.cell === cell && r.column === column)
          .flatMap((r) => r.figures)
        if (figures.length === 0) return '–'
        const acc = mean(finite(figures.map((f) => f.accuracy)))
        const auc = mean(finite(figures.map((f) => f.auc)))
        return `${acc.toFixed(3)} / ${auc.toFixed(3)} @${mean(figures.map((f) => f.chosen)).toFixed(0)}`
      }),
      score.toFixed(4),
      Number.isFinite(base) ? `${score >= base ? '+' : '−'}${Math.abs(score - base).toFixed(4)}` : '–',
    ]
  })
  return [
    ...header,
    '',
    markdownTable(
      ['recipe variant', ...columns.map((c) => `${c}: val ACC / AUC @round`), 'score', 'vs the recipe'],
      rows,
    ),
    '',
  ].join('\n')
}
