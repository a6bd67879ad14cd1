import { useEffect, useRef } from 'preact/hooks'

/** An action waiting for the operator's confirmation. */
export type Pending = {
  readonly title: string
  readonly text: string
  readonly confirm: string
  readonly run: () => Promise<void>
}

/** A modal that asks before an action runs; Escape or Cancel drops it. */
export function ConfirmDialog({ pending, onDone }: { pending: Pending | null; onDone: () => void }) {
  const button = useRef<HTMLButtonElement>(null)
  useEffect(() => {
    if (pending === null) return
    button.current?.focus()
    const key = (e: KeyboardEvent) => e.key === 'Escape' && onDone()
    window.addEventListener('keydown', key)
    return () => window.removeEventListener('keydown', key)
  }, [pending, onDone])
  if (pending === null) return null
  return (
    <div class="overlay">
      <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="confirm-title">
        <h2 id="confirm-title">{pending.title}</h2>
        <p>{pending.text}</p>
        <div class="buttons">
          <button
            type="button"
            ref={button}
            class="primary"
            onClick={() => {
              onDone()
              void pending.run()
            }}
          >
            {pending.confirm}
          </button>
          <button type="button" onClick={onDone}>
            Cancel
          </button>
        </div>
      </div>
    </div>
  )
}
