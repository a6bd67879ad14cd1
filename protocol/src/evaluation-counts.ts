import { describe } from './describe.ts'
import { ProtocolError } from './errors.ts'

/**
 * What a participant tells the federation about the *received global head* on its own validation
 * data: counts only, so that they can be summed inside secure aggregation and the coordinator learns
 * the federation's pooled figures, never one site's. From the sum, every metric a clinician reads can
 * be computed (model/src/metrics): the confusion matrix gives accuracy, per-class precision, recall,
 * F1 and specificity, balanced accuracy, quadratic weighted kappa and MAE; the score histograms give a
 * binned one-vs-rest ROC AUC; the confidence histogram gives a binned expected calibration error.
 *
 * Layout, C classes: [confusion C·C (row = true class, column = predicted), positives C·SCORE_BINS
 * (class c's score on examples of class c), negatives C·SCORE_BINS (class c's score on the others),
 * examples CONFIDENCE_BINS (by the top probability), correct CONFIDENCE_BINS].
 */
export type EvaluationCounts = {
  readonly confusion: readonly number[]
  readonly positives: readonly number[]
  readonly negatives: readonly number[]
  readonly confidence: readonly number[]
  readonly correct: readonly number[]
}

/** Score bins: logit(p) over [−8, 8] in steps of 0.25, so confident scores near 0 and 1 stay apart. */
export const SCORE_BINS = 64
const LOGIT_RANGE = 8
/** Confidence bins: [0, 1] in 60 equal steps; 4 of them make one of the 15 bins of the usual ECE. */
export const CONFIDENCE_BINS = 60

/** Words of the counts for `classes` labels. */
export function evaluationCountsLength(classes: number): number {
  return classes * classes + 2 * classes * SCORE_BINS + 2 * CONFIDENCE_BINS
}

/** The bin of a class probability in the score histograms. */
export function scoreBin(p: number): number {
  const q = Math.min(Math.max(p, 1e-12), 1 - 1e-12)
  const logit = Math.log(q / (1 - q))
  const bin = Math.floor(((logit + LOGIT_RANGE) / (2 * LOGIT_RANGE)) * SCORE_BINS)
  return Math.min(SCORE_BINS - 1, Math.max(0, bin))
}

/** The bin of a top probability in the confidence histogram. */
export function confidenceBin(p: number): number {
  return Math.min(CONFIDENCE_BINS - 1, Math.max(0, Math.floor(p * CONFIDENCE_BINS)))
}

/** The centre of a confidence bin: what the pooled ECE takes as the bin's mean confidence. */
export function confidenceBinCentre(bin: number): number {
  return (bin + 0.5) / CONFIDENCE_BINS
}

export function emptyEvaluationCounts(classes: number): EvaluationCounts {
  const zeros = (n: number) => new Array<number>(n).fill(0)
  return {
    confusion: zeros(classes * classes),
    positives: zeros(classes * SCORE_BINS),
    negatives: zeros(classes * SCORE_BINS),
    confidence: zeros(CONFIDENCE_BINS),
    correct: zeros(CONFIDENCE_BINS),
  }
}

/** The counts as one vector, in the layout above. */
export function flattenEvaluationCounts(c: EvaluationCounts): number[] {
  return [...c.confusion, ...c.positives, ...c.negatives, ...c.confidence, ...c.correct]
}

/**
 * Reads counts from outside (a plaintext update, a decoded secure sum): the length for `classes`,
 * non-negative integers, and the parts agreeing on how many examples there were. A ProtocolError
 * ('malformed') otherwise.
 */
export function parseEvaluationCounts(
  words: ArrayLike<number>,
  classes: number,
  where = 'evaluation counts',
): EvaluationCounts {
  const length = evaluationCountsLength(classes)
  if (words.length !== length)
    throw new ProtocolError(
      'malformed',
      `${where}: expected ${length} counts for ${classes} classes, got ${words.length}`,
    )
  for (let i = 0; i < length; i++) {
    const w = words[i] as number
    if (!Number.isSafeInteger(w) || w < 0)
      throw new ProtocolError(
        'malformed',
        `${where}: expected non-negative integer counts, got ${describe(w)} at ${i}`,
      )
  }
  const all = Array.from(words)
  let at = 0
  const take = (n: number) => {
    const part = all.slice(at, at + n)
    at += n
    return part
  }
  const counts: EvaluationCounts = {
    confusion: take(classes * classes),
    positives: take(classes * SCORE_BINS),
    negatives: take(classes * SCORE_BINS),
    confidence: take(CONFIDENCE_BINS),
    correct: take(CONFIDENCE_BINS),
  }
  const examples = sum(counts.confusion)
  const agree = (name: string, n: number) => {
    if (n !== examples)
      throw new ProtocolError(
        'malformed',
        `${where}: the confusion matrix counts ${examples} examples, the ${name} ${n}`,
      )
  }
  agree('confidence histogram', sum(counts.confidence))
  for (let c = 0; c < classes; c++) {
    let row = 0
    for (let j = 0; j < classes; j++) row += counts.confusion[c * classes + j] as number
    const histogram = (part: readonly number[]) => sum(part.slice(c * SCORE_BINS, (c + 1) * SCORE_BINS))
    agree(`score histograms of class ${c}`, histogram(counts.positives) + histogram(counts.negatives))
    if (histogram(counts.positives) !== row)
      throw new ProtocolError(
        'malformed',
        `${where}: class ${c} has ${row} examples in the confusion matrix, ${histogram(counts.positives)} in its score histogram`,
      )
  }
  let trace = 0
  for (let c = 0; c < classes; c++) trace += counts.confusion[c * classes + c] as number
  if (sum(counts.correct) !== trace)
    throw new ProtocolError(
      'malformed',
      `${where}: ${trace} correct in the confusion matrix, ${sum(counts.correct)} in the confidence histogram`,
    )
  for (let b = 0; b < CONFIDENCE_BINS; b++)
    if ((counts.correct[b] as number) > (counts.confidence[b] as number))
      throw new ProtocolError('malformed', `${where}: more correct than examples in confidence bin ${b}`)
  return counts
}

/**
 * Pooled counts as read out of a sum: the counts, or why they do not add up. A secure sum hides who
 * sent what, so one participant's inconsistent counts make the pooled counts inconsistent without
 * saying whose; the coordinator then records no pooled figures and says why, and the round (its
 * update and label counts) stands.
 */
export type PooledEvaluation =
  | { readonly ok: true; readonly counts: EvaluationCounts }
  | { readonly ok: false; readonly reason: string }

/** {@link parseEvaluationCounts} as a value: a refusal is an expected outcome of a sum, not an error. */
export function readPooledEvaluation(
  words: ArrayLike<number>,
  classes: number,
  where = 'pooled evaluation counts',
): PooledEvaluation {
  try {
    return { ok: true, counts: parseEvaluationCounts(words, classes, where) }
  } catch (error) {
    if (error instanceof ProtocolError) return { ok: false, reason: error.message }
    throw error
  }
}

/** a + b, count by count (what secure aggregation's sum does to two participants' counts). */
export function addEvaluationCounts(a: EvaluationCounts, b: EvaluationCounts): EvaluationCounts {
  const add = (x: readonly number[], y: readonly number[]) => x.map((v, i) => v + (y[i] as number))
  return {
    confusion: add(a.confusion, b.confusion),
    positives: add(a.positives, b.positives),
    negatives: add(a.negatives, b.negatives),
    confidence: add(a.confidence, b.confidence),
    correct: add(a.correct, b.correct),
  }
}

function sum(xs: readonly number[]): number {
  let s = 0
  for (const x of xs) s += x
  return s
}
