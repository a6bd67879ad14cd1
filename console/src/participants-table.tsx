import type { ConsoleParticipant } from '@fedtune/protocol'
import { useState } from 'preact/hooks'
import { send } from './api.ts'
import { when } from './format.ts'
import { mayAct } from './session.ts'
import type { Ui } from './ui.ts'

type Decision = 'approve' | 'revoke' | 'readmit'

/** Which decisions a participant's enrolment state allows (the coordinator checks again). */
function decisionsFor(state: ConsoleParticipant['state']): readonly Decision[] {
  switch (state) {
    case 'pending':
      return ['approve']
    case 'approved':
      return ['revoke']
    case 'revoked':
    case 'excluded':
      return ['readmit']
  }
}

const LABEL: Readonly<Record<Decision, string>> = {
  approve: 'Approve',
  revoke: 'Revoke',
  readmit: 'Re-admit',
}

/**
 * A task's participants. Names and agents are participant input: rendered as text (Preact escapes
 * every string child), never as HTML. Operators approve, revoke, re-admit and invite.
 */
export function ParticipantsTable({
  task,
  participants,
  ui,
  changed,
}: {
  task: string
  participants: readonly ConsoleParticipant[]
  ui: Ui
  /** The participant as the coordinator answered a decision (the live feed says the same soon after). */
  changed: (p: unknown) => void
}) {
  const acts = mayAct(ui.role)
  const decide = (p: ConsoleParticipant, d: Decision) =>
    ui.confirm(
      {
        title: `${LABEL[d]} ${p.name}`,
        text:
          d === 'revoke'
            ? `Revoke ${p.name} (${p.fingerprint})? It leaves the open round and every later one at once.`
            : `${LABEL[d]} ${p.name} (${p.fingerprint}) in task "${task}"?`,
        confirm: LABEL[d],
      },
      async () => {
        const after = await send<{ state: string }>(
          'POST',
          `/api/tasks/${encodeURIComponent(task)}/participants/${encodeURIComponent(p.name)}/${d}`,
        )
        changed(after)
        return `${p.name} is ${after.state}`
      },
    )
  return (
    <section aria-labelledby="participants-title">
      <h3 id="participants-title">Participants</h3>
      <div class="scroll">
        <table id="participants">
          <thead>
            <tr>
              <th>name</th>
              <th>kind</th>
              <th>key</th>
              <th>enrolment</th>
              <th>online</th>
              <th>last seen</th>
              <th>rounds</th>
              <th>dropouts</th>
              <th>exclusions</th>
              <th>agent</th>
              {acts && <th />}
            </tr>
          </thead>
          <tbody>
            {participants.length === 0 && (
              <tr>
                <td colSpan={acts ? 11 : 10} class="muted">
                  No participant has enrolled yet.
                </td>
              </tr>
            )}
            {participants.map((p) => (
              <tr key={p.name} data-participant={p.name} data-state={p.state}>
                <td>{p.name}</td>
                <td>{p.kind}</td>
                <td>
                  <code>{p.fingerprint}</code>
                </td>
                <td>
                  <span class={`state ${p.state}`}>{p.state}</span>
                </td>
                <td>{p.online ? 'online' : 'offline'}</td>
                <td>{when(p.lastSeen)}</td>
                <td>{p.rounds}</td>
                <td>{p.dropouts}</td>
                <td>{p.exclusions}</td>
                <td class="agent">{p.agent ?? '—'}</td>
                {acts && (
                  <td>
                    {decisionsFor(p.state).map((d) => (
                      <button
                        key={d}
                        type="button"
                        class={d === 'revoke' ? 'danger' : ''}
                        onClick={() => decide(p, d)}
                      >
                        {LABEL[d]}
                      </button>
                    ))}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {acts && <Invite task={task} ui={ui} />}
    </section>
  )
}

/** Issues a one-time enrolment code; the page shows it once, and keeps it nowhere. */
function Invite({ task, ui }: { task: string; ui: Ui }) {
  const [name, setName] = useState('')
  const [issued, setIssued] = useState<{ participant: string; code: string; expiresAt: string } | null>(null)
  return (
    <div class="invite">
      <form
        onSubmit={(e) => {
          e.preventDefault()
          const participant = name.trim()
          ui.confirm(
            {
              title: `Invite ${participant}`,
              text: `Issue a one-time enrolment code for "${participant}" in task "${task}"? It is shown once.`,
              confirm: 'Invite',
            },
            async () => {
              const invite = await send<{ participant: string; code: string; expiresAt: string }>(
                'POST',
                `/api/tasks/${encodeURIComponent(task)}/invites`,
                { participant },
              )
              setIssued(invite)
              setName('')
              return `invited ${invite.participant}`
            },
          )
        }}
      >
        <label>
          Invite
          <input
            name="invite-name"
            placeholder="participant name"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            required
          />
        </label>
        <button type="submit">Invite…</button>
      </form>
      {issued !== null && (
        <div class="code" role="status">
          <p>
            The code for <strong>{issued.participant}</strong> (until {when(issued.expiresAt)}); it is shown
            only now:
          </p>
          <code id="invite-code">{issued.code}</code>
          <button type="button" onClick={() => setIssued(null)}>
            I have noted it
          </button>
        </div>
      )}
    </div>
  )
}
