import type { ConsoleRun } from '@fedtune/protocol'
import { useState } from 'preact/hooks'
import { send } from './api.ts'
import type { Ui } from './ui.ts'

type RunView = { readonly id: number; readonly state: string; readonly reason: string | null }

/**
 * Start, pause after this round, resume, stop, abort the current round, extend its deadline: each
 * asks first; the coordinator decides whether the run's state allows it and the page shows its reason
 * when it does not. Only rendered for operators and admins.
 */
export function RunControls({ run, ui }: { run: ConsoleRun; ui: Ui }) {
  const [reason, setReason] = useState('')
  const [extend, setExtend] = useState('60')
  const task = encodeURIComponent(run.task)
  const body = () => (reason.trim() === '' ? undefined : { reason: reason.trim() })
  const action = (label: string, path: string, text: string, payload?: () => unknown) =>
    ui.confirm({ title: `${label} — ${run.task}`, text, confirm: label }, async () => {
      const after = await send<RunView>('POST', `/api/tasks/${task}/${path}`, payload?.())
      return `${label}: run ${after.id} is ${after.state}${after.reason ? ` (${after.reason})` : ''}`
    })
  return (
    <section class="controls" aria-label="Run controls">
      <div class="buttons">
        <button
          type="button"
          onClick={() => action('Start', 'start', 'Start a new run of this task with its current file?')}
        >
          Start
        </button>
        <button
          type="button"
          onClick={() =>
            action('Pause', 'pause', 'Pause after this round? No round starts until one resumes.', body)
          }
        >
          Pause after this round
        </button>
        <button type="button" onClick={() => action('Resume', 'resume', 'Resume the run?', body)}>
          Resume
        </button>
        <button
          type="button"
          class="danger"
          onClick={() => action('Stop', 'stop', 'Stop the run? A stopped run does not go on.', body)}
        >
          Stop
        </button>
        <button
          type="button"
          class="danger"
          onClick={() =>
            action(
              'Abort round',
              'abort',
              'Abort the current round? It fails, and the next one starts.',
              body,
            )
          }
        >
          Abort round
        </button>
      </div>
      <div class="buttons">
        <label>
          Reason{' '}
          <input
            name="reason"
            value={reason}
            maxLength={500}
            onInput={(e) => setReason(e.currentTarget.value)}
          />
        </label>
        <label>
          Extend by
          <input
            name="extend-seconds"
            type="number"
            min="1"
            value={extend}
            onInput={(e) => setExtend(e.currentTarget.value)}
          />{' '}
          s
        </label>
        <button
          type="button"
          onClick={() => {
            const seconds = Number(extend)
            if (!Number.isFinite(seconds) || seconds <= 0)
              return ui.refused(`expected a positive number of seconds to extend by, got "${extend}"`)
            action('Extend', 'extend', `Extend the current round's deadline by ${seconds} s?`, () => ({
              seconds,
              ...body(),
            }))
          }}
        >
          Extend deadline
        </button>
      </div>
    </section>
  )
}
