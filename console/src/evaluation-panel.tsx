import type { ClassMetrics, EvaluationSet, RoundEvaluation, SetSummary } from '@fedtune/protocol'
import { metric } from './format.ts'

/** A set as the page names it: whose images, and for the participants' what their figures measure. */
export const SET_NAMES: Readonly<Record<EvaluationSet, string>> = {
  validation: 'validation set (coordinator)',
  test: 'test set (coordinator)',
  participants: "participants' pooled validation data",
}

/** A share as a percentage, '—' for none. */
const percent = (share: number | null) => (share === null ? '—' : `${(share * 100).toFixed(1)} %`)

/**
 * The latest aggregated round's evaluation: its warnings in a banner, every set's figures side by
 * side (balanced accuracy, AUC, calibration, and QWK/MAE for grades), and the confusion matrix of
 * one set with each class's recall, precision, F1 and specificity beside its row. The matrix is
 * shaded by the share of its row, so a head that answers one class shows as one dark column.
 */
export function EvaluationPanel({ evaluation }: { evaluation: RoundEvaluation | null }) {
  if (evaluation === null)
    return (
      <section id="evaluation" class="evaluation" aria-labelledby="evaluation-title">
        <h3 id="evaluation-title">Evaluation</h3>
        <p class="muted">No aggregated round has been evaluated yet.</p>
      </section>
    )
  const { round, labels, matrix, sets, warnings } = evaluation
  return (
    <section
      id="evaluation"
      class="evaluation"
      aria-labelledby="evaluation-title"
      data-round={round}
      data-set={matrix?.set ?? ''}
    >
      <h3 id="evaluation-title">Evaluation of round {round}'s head</h3>
      {warnings.length > 0 && (
        <div id="evaluation-warnings" class="banner warning" role="alert">
          <strong>Warning</strong>
          <ul>
            {warnings.map((w) => (
              <li key={w}>{w}</li>
            ))}
          </ul>
        </div>
      )}
      {sets.length > 0 && <SetsTable round={round} sets={sets} />}
      {matrix !== null && (
        <ConfusionTable
          round={round}
          labels={labels}
          set={matrix.set}
          confusion={matrix.confusion}
          perClass={matrix.perClass}
        />
      )}
    </section>
  )
}

function SetsTable({ round, sets }: { round: number; sets: readonly SetSummary[] }) {
  const ordinal = sets.some((s) => s.ordinal !== null)
  return (
    <div class="scroll">
      <table id="evaluation-sets">
        <caption>Round {round}'s head on each set</caption>
        <thead>
          <tr>
            <th scope="col">set</th>
            <th scope="col">images</th>
            <th scope="col">ACC</th>
            <th scope="col">balanced ACC</th>
            <th scope="col">AUC</th>
            <th scope="col">ECE</th>
            {ordinal && <th scope="col">QWK</th>}
            {ordinal && <th scope="col">MAE (grades)</th>}
          </tr>
        </thead>
        <tbody>
          {sets.map((s) => (
            <tr key={s.set} data-set={s.set}>
              <th scope="row">
                {SET_NAMES[s.set]}
                {s.set === 'participants' && (
                  <div class="muted">
                    the head they received at the round's start, pooled in the secure sum
                    {s.binned ? '; AUC and ECE from binned scores' : ''}
                  </div>
                )}
              </th>
              <td>{s.examples}</td>
              <td class="accuracy">{metric(s.accuracy)}</td>
              <td class="balanced-accuracy">{metric(s.balancedAccuracy)}</td>
              <td class="auc">{metric(s.auc)}</td>
              <td class="ece">{metric(s.ece)}</td>
              {ordinal && <td class="qwk">{metric(s.ordinal?.qwk ?? null)}</td>}
              {ordinal && <td class="mae">{s.ordinal === null ? '—' : s.ordinal.mae.toFixed(3)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function ConfusionTable({
  round,
  labels,
  set,
  confusion,
  perClass,
}: {
  round: number
  labels: readonly string[]
  set: EvaluationSet
  confusion: readonly (readonly number[])[]
  perClass: readonly ClassMetrics[]
}) {
  return (
    <>
      <p class="muted" id="confusion-note">
        True class in rows, predicted class in columns, each cell shaded by its share of the row; each class's
        figures beside its row.
      </p>
      <div class="scroll">
        <table id="confusion" class="confusion" data-set={set} aria-describedby="confusion-note">
          <caption>
            Confusion matrix of round {round}'s head on the {SET_NAMES[set]}
          </caption>
          <thead>
            <tr>
              <th scope="col">true \ predicted</th>
              {labels.map((label) => (
                <th scope="col" key={label}>
                  {label}
                </th>
              ))}
              <th scope="col">images</th>
              <th scope="col">recall</th>
              <th scope="col">precision</th>
              <th scope="col">F1</th>
              <th scope="col">specificity</th>
            </tr>
          </thead>
          <tbody>
            {labels.map((label, t) => {
              const row = confusion[t] ?? []
              const total = row.reduce((sum, n) => sum + n, 0)
              const c = perClass[t]
              return (
                <tr key={label} data-class={t}>
                  <th scope="row">{label}</th>
                  {labels.map((predicted, p) => {
                    const count = row[p] ?? 0
                    const share = total > 0 ? count / total : 0
                    return (
                      <td
                        key={predicted}
                        class={p === t ? 'count hit' : 'count'}
                        data-predicted={p}
                        title={`${count} of ${total} "${label}" images predicted "${predicted}" (${percent(total > 0 ? share : null)})`}
                        style={{ backgroundColor: `rgb(31 111 235 / ${(share * 0.6).toFixed(3)})` }}
                      >
                        {count}
                      </td>
                    )
                  })}
                  <td>{c?.support ?? total}</td>
                  <td class="recall">{metric(c?.recall ?? null)}</td>
                  <td class="precision">{metric(c?.precision ?? null)}</td>
                  <td class="f1">{metric(c?.f1 ?? null)}</td>
                  <td class="specificity">{metric(c?.specificity ?? null)}</td>
                </tr>
              )
            })}
          </tbody>
        </table>
      </div>
    </>
  )
}
