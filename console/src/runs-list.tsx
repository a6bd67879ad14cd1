import type { ConsoleRun } from '@fedtune/protocol'
import { metric, roundText, waitingText, when } from './format.ts'
import { mayAct } from './session.ts'
import { TaskUpload } from './task-upload.tsx'
import type { Ui } from './ui.ts'

export function RunsList({ runs, now, ui }: { runs: readonly ConsoleRun[]; now: number; ui: Ui }) {
  return (
    <section aria-labelledby="runs-title">
      <h2 id="runs-title">Runs</h2>
      <div class="scroll">
        <table id="runs">
          <thead>
            <tr>
              <th>task</th>
              <th>state</th>
              <th>round</th>
              <th>started</th>
              <th>ACC</th>
              <th>AUC</th>
              <th>waits for</th>
            </tr>
          </thead>
          <tbody>
            {runs.length === 0 && (
              <tr>
                <td colSpan={7} class="muted">
                  No tasks yet.
                </td>
              </tr>
            )}
            {runs.map((r) => (
              <tr key={r.task} data-task={r.task} data-state={r.state}>
                <td>
                  <a href={`#/run/${encodeURIComponent(r.task)}`}>{r.task}</a>
                  {r.run !== null && <span class="muted"> #{r.run}</span>}
                </td>
                <td>
                  <span class={`state ${r.state}`}>{r.state}</span>
                </td>
                <td>{roundText(r)}</td>
                <td>{when(r.startedAt)}</td>
                <td>{metric(r.accuracy)}</td>
                <td>{metric(r.auc)}</td>
                <td>{waitingText(r.waiting, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {mayAct(ui.role) && <TaskUpload ui={ui} />}
    </section>
  )
}
