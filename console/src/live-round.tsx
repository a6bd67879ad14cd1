import type { ConsoleRun, LiveRound } from '@fedtune/protocol'
import { SECURE_STAGES, STAGE_NAMES, seconds, waitingText } from './format.ts'

/** The running round: its stage among the four, how many answered, who it still waits for, the time left. */
export function LiveRoundView({ run, live, now }: { run: ConsoleRun; live: LiveRound | null; now: number }) {
  const waiting = waitingText(run.waiting, now)
  if (live === null)
    return (
      <section id="live" data-stage="" aria-label="Current round">
        <p class="muted">{waiting === '' ? 'No round is running.' : `Waiting for ${waiting}.`}</p>
      </section>
    )
  const stages = live.stage === 'update' ? (['update'] as const) : SECURE_STAGES
  const who = [...live.waitingFor, ...(live.more > 0 ? [`and ${live.more} more`] : [])]
  return (
    <section id="live" data-round={live.round} data-stage={live.stage} aria-label="Current round">
      <h3>
        Round {live.round}/{run.rounds}
      </h3>
      <ol class="stages">
        {stages.map((s) => (
          <li
            key={s}
            class={
              s === live.stage ? 'current' : stages.indexOf(s) < stages.indexOf(live.stage) ? 'done' : ''
            }
          >
            {STAGE_NAMES[s]}
          </li>
        ))}
      </ol>
      <progress max={Math.max(live.of, 1)} value={live.heard} />
      <p>
        {STAGE_NAMES[live.stage]}: {live.heard} of {live.of} answered
        {live.deadlineAt !== null && <> · {seconds(live.deadlineAt - now)} to the deadline</>}
      </p>
      {who.length > 0 && <p class="waiting-for">Waiting for: {who.join(', ')}</p>}
    </section>
  )
}
