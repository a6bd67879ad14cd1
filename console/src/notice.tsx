import type { TaskFileProblem } from './api.ts'

/** The outcome of the operator's last action: done, or refused with the coordinator's reason. */
export type Notice =
  | { readonly kind: 'ok'; readonly text: string }
  | { readonly kind: 'refused'; readonly text: string; readonly problems?: readonly TaskFileProblem[] }

export function NoticeBar({ notice, onClose }: { notice: Notice | null; onClose: () => void }) {
  if (notice === null) return null
  return (
    <div class={`notice ${notice.kind}`} role={notice.kind === 'ok' ? 'status' : 'alert'}>
      <p>{notice.text}</p>
      {notice.kind === 'refused' && notice.problems && notice.problems.length > 0 && (
        <ul class="problems">
          {notice.problems.map((p, i) => (
            <li key={i}>
              {p.path === '' ? '' : <code>{p.path}</code>}
              {p.path === '' ? '' : ': '}expected {p.expected}, got {p.found}
            </li>
          ))}
        </ul>
      )}
      <button type="button" class="link" onClick={onClose} aria-label="Dismiss">
        ×
      </button>
    </div>
  )
}
