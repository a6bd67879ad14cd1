import type { ConsoleAuditEntry } from '@fedtune/protocol'
import { useCallback, useEffect, useState } from 'preact/hooks'
import { get } from './api.ts'
import { when } from './format.ts'

type Filter = { readonly run: string; readonly actor: string; readonly action: string }

const matches = (e: ConsoleAuditEntry, f: Filter) =>
  (f.run === '' || String(e.run) === f.run) &&
  (f.actor === '' || e.actor === f.actor) &&
  (f.action === '' || e.action === f.action)

/**
 * The audit log (GET /api/audit, admins), newest first, filtered by run, operator and action; rows
 * the live feed pushes are added on top when they match.
 */
export function AuditLog({ pushed }: { pushed: readonly ConsoleAuditEntry[] }) {
  const [draft, setDraft] = useState<Filter>({ run: '', actor: '', action: '' })
  const [filter, setFilter] = useState<Filter>(draft)
  const [entries, setEntries] = useState<readonly ConsoleAuditEntry[]>([])
  const [next, setNext] = useState<number | null>(null)
  const [error, setError] = useState('')
  const [since, setSince] = useState<number>(0)

  const load = useCallback(async (f: Filter, before: number | null) => {
    const query = new URLSearchParams({ limit: '100' })
    if (f.run !== '') query.set('run', f.run)
    if (f.actor !== '') query.set('actor', f.actor)
    if (f.action !== '') query.set('action', f.action)
    if (before !== null) query.set('before', String(before))
    try {
      const page = await get<{ entries: ConsoleAuditEntry[]; next: number | null }>(`/api/audit?${query}`)
      setError('')
      setEntries((old) => (before === null ? page.entries : [...old, ...page.entries]))
      setNext(page.next)
      if (before === null) setSince(page.entries[0]?.id ?? 0)
    } catch (err) {
      setError((err as Error).message)
    }
  }, [])

  useEffect(() => {
    void load(filter, null)
  }, [filter, load])

  const fresh = pushed.filter((e) => e.id > since && matches(e, filter))
  const rows = [...fresh, ...entries]
  const field = (key: keyof Filter, label: string) => (
    <label>
      {label}
      <input
        name={`audit-${key}`}
        value={draft[key]}
        onInput={(e) => setDraft({ ...draft, [key]: e.currentTarget.value.trim() })}
      />
    </label>
  )
  return (
    <section aria-labelledby="audit-title">
      <h2 id="audit-title">Audit log</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault()
          setFilter(draft)
        }}
      >
        {field('run', 'Run')}
        {field('actor', 'Operator')}
        {field('action', 'Action')}
        <button type="submit">Filter</button>
      </form>
      {error !== '' && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="scroll">
        <table id="audit">
          <thead>
            <tr>
              <th>time</th>
              <th>operator</th>
              <th>action</th>
              <th>outcome</th>
              <th>task</th>
              <th>run</th>
              <th>target</th>
              <th>detail</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((e) => (
              <tr key={e.id} data-action={e.action} data-outcome={e.outcome}>
                <td>{when(e.at)}</td>
                <td>{e.actor}</td>
                <td>{e.action}</td>
                <td>
                  <span class={`state ${e.outcome}`}>{e.outcome}</span>
                </td>
                <td>{e.task ?? ''}</td>
                <td>{e.run ?? ''}</td>
                <td>{e.target ?? ''}</td>
                <td class="detail">{Object.keys(e.detail).length === 0 ? '' : JSON.stringify(e.detail)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {next !== null && (
        <button type="button" onClick={() => void load(filter, next)}>
          Older entries
        </button>
      )}
    </section>
  )
}
