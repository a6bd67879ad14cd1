import type { ConsoleParticipant, ConsoleRun, ConsoleWatch } from '@fedtune/protocol'
import { download } from './download.ts'
import { EvaluationPanel } from './evaluation-panel.tsx'
import { latestEvaluation } from './feed-state.ts'
import { BEST_METRIC_NAMES, metric, privacyText, roundText, seconds, waitingText, when } from './format.ts'
import { LiveRoundView } from './live-round.tsx'
import { ParticipantsTable } from './participants-table.tsx'
import { RoundChart } from './round-chart.tsx'
import { RoundTimeline } from './round-timeline.tsx'
import { RunControls } from './run-controls.tsx'
import { mayAct } from './session.ts'
import type { Ui } from './ui.ts'

/** One task's run, live: its state, controls, current round, chart, latest evaluation, timeline and participants. */
export function RunPage({
  run,
  watched,
  now,
  ui,
  changed,
}: {
  run: ConsoleRun | undefined
  watched: ConsoleWatch | null
  now: number
  ui: Ui
  changed: (p: ConsoleParticipant) => void
}) {
  if (run === undefined)
    return (
      <section>
        <p class="muted">No such task on this coordinator (yet).</p>
        <a href="#/">All runs</a>
      </section>
    )
  const waiting = waitingText(run.waiting, now)
  const id = run.run
  return (
    <section id="run" data-task={run.task} data-state={run.state} aria-labelledby="run-title">
      <p>
        <a href="#/">← All runs</a>
      </p>
      <h2 id="run-title">
        {run.task} {id !== null && <span class="muted">run {id}</span>}
      </h2>
      <dl class="facts">
        <dt>state</dt>
        <dd>
          <span id="run-state" class={`state ${run.state}`}>
            {run.state}
          </span>
        </dd>
        <dt>round</dt>
        <dd id="run-round">{roundText(run)}</dd>
        <dt>aggregation</dt>
        <dd>{run.secure ? 'secure (SecAgg+)' : 'plaintext-debug'}</dd>
        <dt>privacy</dt>
        <dd id="run-privacy">
          {privacyText(run.privacy)}
          {run.privacy !== null && (
            // how much of the budget is spent: the run ends before a round that could pass it
            <meter
              class="budget"
              min={0}
              max={run.privacy.target}
              high={run.privacy.target * 0.8}
              value={Math.min(run.privacy.epsilon, run.privacy.target)}
            />
          )}
        </dd>
        <dt>started</dt>
        <dd>{when(run.startedAt)}</dd>
        <dt>ACC / AUC</dt>
        <dd>
          {metric(run.accuracy)} / {metric(run.auc)}
        </dd>
        {run.best !== null && (
          <>
            <dt>best round</dt>
            <dd id="run-best">
              {run.best.round} (validation {BEST_METRIC_NAMES[run.best.metric]} {metric(run.best.value)})
            </dd>
          </>
        )}
        {run.etaMs !== null && (
          <>
            <dt>time left</dt>
            <dd>about {seconds(run.etaMs)}</dd>
          </>
        )}
        {run.reason !== null && (
          <>
            <dt>reason</dt>
            <dd id="run-reason">{run.reason}</dd>
          </>
        )}
        {waiting !== '' && (
          <>
            <dt>waits for</dt>
            <dd id="run-waiting">{waiting}</dd>
          </>
        )}
      </dl>
      {run.privacyStatement.length > 0 && (
        <details id="privacy-statement" class="statement">
          <summary>What every participant is told before it joins</summary>
          {run.privacyStatement.map((line) => (
            <p key={line}>{line}</p>
          ))}
        </details>
      )}
      {mayAct(ui.role) && <RunControls run={run} ui={ui} />}
      {watched === null ? (
        <p class="muted">Loading the run…</p>
      ) : (
        <>
          <LiveRoundView run={run} live={watched.live} now={now} />
          <RoundChart timeline={watched.timeline} rounds={run.rounds} best={run.best} />
          <EvaluationPanel evaluation={latestEvaluation(watched.timeline)} />
          <RoundTimeline run={run} timeline={watched.timeline} ui={ui} />
          {id !== null && (
            <p>
              <button
                type="button"
                id="download-model"
                onClick={() =>
                  void ui.run(async () => {
                    await download(`/api/runs/${id}/model`, `${run.task}-run${id}-model`)
                    return `downloaded run ${id}'s whole model`
                  })
                }
              >
                Download the whole model
              </button>
            </p>
          )}
          <ParticipantsTable
            task={run.task}
            participants={watched.participants}
            ui={ui}
            changed={(p) => changed(p as ConsoleParticipant)}
          />
        </>
      )}
    </section>
  )
}
