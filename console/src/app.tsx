import type { ConsoleParticipant } from '@fedtune/protocol'
import { useCallback, useEffect, useReducer, useRef, useState } from 'preact/hooks'
import { ApiError } from './api.ts'
import { AuditLog } from './audit-log.tsx'
import { ConfirmDialog, type Pending } from './confirm.tsx'
import { Feed, type FeedStatus } from './feed.ts'
import { apply, EMPTY } from './feed-state.ts'
import { type Notice, NoticeBar } from './notice.tsx'
import { useNow, useRoute } from './route.ts'
import { RunPage } from './run-page.tsx'
import { RunsList } from './runs-list.tsx'
import { currentOperator, type Operator, signOut } from './session.ts'
import { SignIn } from './sign-in.tsx'
import { participantOf, runsSnapshot, watchSnapshot } from './snapshot.ts'
import type { Ui } from './ui.ts'

export function App() {
  const [operator, setOperator] = useState<Operator | null | undefined>(undefined)
  const [reason, setReason] = useState('')
  useEffect(() => {
    currentOperator().then(setOperator, (error: Error) => {
      setReason(error.message)
      setOperator(null)
    })
  }, [])
  if (operator === undefined) return <p class="muted">Loading…</p>
  if (operator === null) return <SignIn onSignedIn={setOperator} reason={reason} />
  return (
    <Shell
      operator={operator}
      signedOut={(why) => {
        setReason(why)
        setOperator(null)
      }}
    />
  )
}

function Shell({ operator, signedOut }: { operator: Operator; signedOut: (why: string) => void }) {
  const [state, dispatch] = useReducer(apply, EMPTY)
  const [feedStatus, setFeedStatus] = useState<{ status: FeedStatus; detail: string }>({
    status: 'connecting',
    detail: '',
  })
  const [notice, setNotice] = useState<Notice | null>(null)
  const [pending, setPending] = useState<Pending | null>(null)
  // bumped after an action while the feed is not live: the REST picture is read again
  const [version, setVersion] = useState(0)
  const route = useRoute()
  const now = useNow()
  const feed = useRef<Feed | null>(null)
  const welcomed = useRef(false)
  const live = feedStatus.status === 'live' && welcomed.current

  const failed = useCallback(
    (error: unknown) => {
      if (error instanceof ApiError && error.status === 401) return signedOut(error.message)
      setNotice(
        error instanceof ApiError
          ? {
              kind: 'refused',
              // with the problems listed one by one, the message's first line ("task file: 5 problems") is enough
              text:
                error.problems.length > 0 ? (error.message.split('\n')[0] ?? error.message) : error.message,
              problems: error.problems,
            }
          : { kind: 'refused', text: (error as Error).message },
      )
    },
    [signedOut],
  )

  useEffect(() => {
    const f = new Feed({
      event: dispatch,
      welcome: () => {
        welcomed.current = true
      },
      status: (status, detail) => setFeedStatus({ status, detail }),
      signedOut: (message) => signedOut(message),
    })
    feed.current = f
    return () => f.close()
  }, [])

  // The REST picture, until the feed's welcome replaces it.
  useEffect(() => {
    if (live) return
    runsSnapshot().then((runs) => {
      if (!welcomed.current) dispatch({ type: 'runs', runs })
    }, failed)
  }, [live, version, failed])

  const task = route.view === 'run' ? route.task : null
  const known = task !== null && state.runs.has(task)
  useEffect(() => {
    if (task === null) return void dispatch({ type: 'watch', watch: null })
    if (live)
      return feed.current?.watch(task, dispatch, (message) => setNotice({ kind: 'refused', text: message }))
    const run = state.runs.get(task)
    if (run === undefined) return
    watchSnapshot(run).then((watch) => {
      if (!welcomed.current) dispatch({ type: 'watch', watch })
    }, failed)
    // state.runs is read once the task is known; later changes come with `version` or the feed
  }, [task, live, known, version, failed])

  const perform = useCallback(
    async (call: () => Promise<string>) => {
      try {
        setNotice({ kind: 'ok', text: await call() })
        if (!(feed.current?.connected && welcomed.current)) setVersion((v) => v + 1)
      } catch (error) {
        failed(error)
      }
    },
    [failed],
  )

  const ui: Ui = {
    role: operator.role,
    operator: operator.name,
    confirm: (p, call) => setPending({ ...p, run: () => perform(call) }),
    run: perform,
    refused: (text) => setNotice({ kind: 'refused', text }),
  }
  const changed = (p: ConsoleParticipant) => {
    if (task === null) return
    const known = state.watched?.participants.find((q) => q.name === p.name)
    dispatch({ type: 'participant', participant: participantOf(task, p, known) })
  }

  return (
    <>
      <header>
        <h1>
          fedtune <span class="muted">console</span>
        </h1>
        <nav>
          <a href="#/" aria-current={route.view !== 'audit' ? 'page' : undefined}>
            Runs
          </a>
          <a href="#/audit" aria-current={route.view === 'audit' ? 'page' : undefined}>
            Audit log
          </a>
        </nav>
        <span
          id="feed"
          class={`feed ${feedStatus.status}`}
          data-status={feedStatus.status}
          title={feedStatus.detail}
        >
          {feedStatus.status === 'live'
            ? 'live'
            : feedStatus.status === 'connecting'
              ? 'connecting…'
              : 'not live'}
        </span>
        <span id="who">
          {operator.name} <span class="muted">({operator.role})</span>
        </span>
        <button type="button" onClick={() => signOut().then(() => signedOut(''), failed)}>
          Sign out
        </button>
      </header>
      <NoticeBar notice={notice} onClose={() => setNotice(null)} />
      <main>
        {route.view === 'runs' && <RunsList runs={[...state.runs.values()]} now={now} ui={ui} />}
        {route.view === 'run' && (
          <RunPage
            run={state.runs.get(route.task)}
            watched={state.watched?.run.task === route.task ? state.watched : null}
            now={now}
            ui={ui}
            changed={changed}
          />
        )}
        {route.view === 'audit' && <AuditLog pushed={state.audit} />}
      </main>
      <ConfirmDialog pending={pending} onDone={() => setPending(null)} />
    </>
  )
}
