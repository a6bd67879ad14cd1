import type { ConsoleRun, RoundEntry } from '@fedtune/protocol'
import { download } from './download.ts'
import { bytes, duration, epsilon, metric, STAGE_NAMES, when } from './format.ts'
import type { Ui } from './ui.ts'

/**
 * Every round that ended: its stages' durations, who took part and who dropped (at which stage),
 * bytes, metrics, and a private task's ε spent up to it.
 */
export function RoundTimeline({
  run,
  timeline,
  ui,
}: {
  run: ConsoleRun
  timeline: readonly RoundEntry[]
  ui: Ui
}) {
  const id = run.run
  const private_ = run.privacy !== null
  const columns = private_ ? 11 : 10
  return (
    <div class="scroll">
      <table id="timeline">
        <caption>Rounds</caption>
        <thead>
          <tr>
            <th>round</th>
            <th>result</th>
            <th>started</th>
            <th>stages</th>
            <th>participants</th>
            <th>dropouts</th>
            <th>in / out</th>
            <th>ACC</th>
            <th>AUC</th>
            {private_ && <th>ε</th>}
            <th>head</th>
          </tr>
        </thead>
        <tbody>
          {timeline.length === 0 && (
            <tr>
              <td colSpan={columns} class="muted">
                No round has ended yet.
              </td>
            </tr>
          )}
          {timeline.map((e) => (
            <tr key={e.round} data-round={e.round} data-status={e.status}>
              <td>{e.round}</td>
              <td>
                <span class={`state ${e.status}`}>{e.status}</span>
                {e.reason !== null && <div class="reason">{e.reason}</div>}
              </td>
              <td>
                {when(e.startedAt)}
                <div class="muted">{duration(e.durationMs)}</div>
              </td>
              <td class="stages-cell">
                {e.stages.map((s) => (
                  <div key={s.stage}>
                    {STAGE_NAMES[s.stage]} {duration(s.durationMs)} ({s.heard}/{s.of})
                  </div>
                ))}
              </td>
              <td>
                {e.survivors}/{e.selected}
                {e.excluded.length > 0 && <div class="reason">excluded: {e.excluded.join(', ')}</div>}
              </td>
              <td class="dropouts">
                {e.dropouts.map((d) => (
                  <div key={d.participant} data-participant={d.participant} data-stage={d.stage}>
                    {/* a record read back from the REST API knows who dropped but not at which stage */}
                    {d.participant}
                    {e.stages.length > 0 && <span class="muted"> at {STAGE_NAMES[d.stage]}</span>}
                  </div>
                ))}
              </td>
              <td>
                {bytes(e.bytesIn)} / {bytes(e.bytesOut)}
              </td>
              <td>{metric(e.accuracy)}</td>
              <td>{metric(e.auc)}</td>
              {private_ && <td class="epsilon">{epsilon(e.epsilon)}</td>}
              <td>
                {id === null ? (
                  '—'
                ) : (
                  <button
                    type="button"
                    class="link"
                    onClick={() =>
                      void ui.run(async () => {
                        await download(
                          `/api/runs/${id}/rounds/${e.round}/head`,
                          `${run.task}-run${id}-round${e.round}.head`,
                        )
                        return `downloaded the head after round ${e.round}`
                      })
                    }
                  >
                    download
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
