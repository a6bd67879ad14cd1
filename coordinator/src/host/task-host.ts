import { join } from 'node:path'
import { ProtocolError } from '@fedtune/protocol'
import type { RoundObserver } from '../rounds/round-observer.ts'
import { RunControlError } from '../rounds/run-control-error.ts'
import { ENDED_RUN_STATES, type Run, type Store } from '../store/index.ts'
import type { TaskFile } from '../tasks/task-file.ts'
import { type LiveRun, prepareRun } from './live-run.ts'
import { canonical, endRun, settingsOf } from './run-rows.ts'
import {
  type OpenTask,
  type ServedBackbone,
  type TaskDirectory,
  type TaskListing,
  unknownTask,
} from './task-directory.ts'

export type TaskHostOptions = {
  readonly store: Store
  /** Where run folders go unless `runFolder` names one: `<dataDir>/runs/<task>-<run>`. */
  readonly dataDir: string
  readonly cacheDir: string
  readonly print: (line: string) => void
  readonly bars?: NodeJS.WriteStream | undefined
  /** Watches one run's rounds (the host asks once per run it prepares). */
  readonly observerOf?: ((run: Run) => RoundObserver | undefined) | undefined
  /** A run's folder, when it is not the default one (`--out` for the task on the command line). */
  readonly runFolder?: (run: Run) => string | undefined
  /** A run is about to open to participants (the socket shell raises its message bound to its head). */
  readonly onReady?: (live: LiveRun) => void
  /** A run has opened to participants (what the operator reads: where, how). */
  readonly onOpen?: (live: LiveRun) => Promise<void>
  /** A task's run changed: created, preparing, open, paused, resumed, stopped, ended (the console pushes it). */
  readonly onRunChanged?: (task: string) => void
}

/** What an operator asks of a task's run. */
export type RunAction = 'pause' | 'resume' | 'stop' | 'abort' | 'extend'

/** An operator's request the host refuses: no such task (404), not in this state (409), or wrong in itself (400). */
export class HostError extends Error {
  readonly code: 'not-found' | 'wrong-state' | 'invalid'
  constructor(code: 'not-found' | 'wrong-state' | 'invalid', message: string) {
    super(message)
    this.name = 'HostError'
    this.code = code
  }
}

/** One task as the host keeps it: its file, its latest run, and that run's preparation or federation. */
type Hosted = {
  file: TaskFile
  run: Run | null
  live: LiveRun | null
  preparing: { readonly what: string; readonly done: number; readonly total: number } | null
  ready: Promise<LiveRun> | null
}

/**
 * The tasks one coordinator hosts, each with its runs: it prepares a run (backbone, held-out set)
 * while the port is already open, then serves it to the participants that name its task. The run
 * store is the source of truth; a restarted host carries every unfinished run on (`load`).
 */
export class TaskHost implements TaskDirectory {
  readonly #opts: TaskHostOptions
  readonly #tasks = new Map<string, Hosted>()
  readonly #idle: (() => void)[] = []
  #closed = false
  /** The most parameters of any head prepared so far: what a socket message may need to carry. */
  #largestHead = 1

  constructor(opts: TaskHostOptions) {
    this.#opts = opts
  }

  /** Downloaded backbones and cached embeddings: where the model route finds a run's backbone too. */
  get cacheDir(): string {
    return this.#opts.cacheDir
  }

  /** Every submitted task, and every unfinished run started again (each prepares in the background). */
  async load(): Promise<void> {
    const { store } = this.#opts
    for (const task of await store.tasks.list<TaskFile>()) this.#hosted(task.name, task.file)
    for (const run of await store.runs.unfinished<TaskFile>())
      this.#begin(this.#hosted(run.task, run.settings), run)
  }

  /**
   * Stores a task file (an operator's submission): a new task, or a new file for a task whose run is
   * over or not started. A task with an unfinished run keeps its file (`wrong-state`): stop it first.
   */
  async submit(file: TaskFile, by: string): Promise<'created' | 'replaced' | 'unchanged'> {
    const { store } = this.#opts
    const plain = JSON.parse(JSON.stringify(file)) as TaskFile
    const stored = await store.tasks.get<TaskFile>(file.name)
    if (stored !== null && canonical(stored.file) === canonical(plain)) return 'unchanged'
    const hosted = this.#tasks.get(file.name)
    if (hosted?.run && !ENDED_RUN_STATES.includes(hosted.run.state))
      throw new HostError(
        'wrong-state',
        `task "${file.name}" has an unfinished run (${hosted.run.id}, ${hosted.run.state}); expected it stopped or over before its file changes`,
      )
    if (stored === null) await store.tasks.submit({ name: file.name, file: plain, submittedBy: by })
    else await store.tasks.replace(file.name, plain, by)
    const entry = this.#hosted(file.name, plain)
    entry.file = plain
    return stored === null ? 'created' : 'replaced'
  }

  /** Starts a new run of a submitted task with its current file; it prepares, then opens to participants. */
  async start(task: string, by: string): Promise<Run> {
    const { store } = this.#opts
    const hosted = this.#tasks.get(task)
    if (hosted === undefined) throw new HostError('not-found', `expected a submitted task, got "${task}"`)
    if (hosted.run && !ENDED_RUN_STATES.includes(hosted.run.state))
      throw new HostError(
        'wrong-state',
        `task "${task}" already has run ${hosted.run.id} (${hosted.run.state}); expected it over before another starts`,
      )
    const run = await store.runs.create({ task, settings: hosted.file })
    await store.audit.append({ actor: by, action: 'run.created', outcome: 'ok', task, run: run.id })
    this.#begin(hosted, run)
    this.#changed(task)
    return run
  }

  /**
   * An operator's action on a task's open run: pause after the current round, resume, stop, abort
   * the current round, or extend its deadline by `seconds`. Refused (`wrong-state`) when the run
   * cannot take it: not serving yet, over, not paused, no round running.
   */
  async act(
    task: string,
    action: RunAction,
    by: string,
    detail: { readonly reason?: string | undefined; readonly seconds?: number | undefined } = {},
  ): Promise<Run> {
    const { store } = this.#opts
    const hosted = this.#tasks.get(task)
    if (hosted === undefined) throw new HostError('not-found', `expected a submitted task, got "${task}"`)
    const run = hosted.run
    const live = hosted.live
    if (run === null || live === null || ENDED_RUN_STATES.includes(run.state))
      throw new HostError(
        'wrong-state',
        run === null
          ? `task "${task}" has no run to ${action}; start one first`
          : ENDED_RUN_STATES.includes(run.state)
            ? `run ${run.id} of task "${task}" is already ${run.state}`
            : `run ${run.id} of task "${task}" is still preparing; ${action} it once it serves`,
      )
    const { federation } = live
    try {
      switch (action) {
        case 'pause': {
          const training = federation.state.phase === 'training'
          federation.pause(by)
          // paused: no round starts from now on (one running ends as usual); a restart keeps it paused
          hosted.run = await store.runs.setState(
            run.id,
            'paused',
            `paused by ${by}${training ? ` after round ${federation.state.round}` : ''}`,
          )
          break
        }
        case 'resume':
          federation.resume(by)
          hosted.run = await store.runs.setState(run.id, 'running')
          break
        case 'stop': {
          const reason = `stopped by ${by}${detail.reason ? `: ${detail.reason}` : ''}`
          hosted.run = await store.runs.setState(run.id, 'stopped', reason)
          federation.stop(reason, by)
          this.#checkIdle()
          break
        }
        case 'abort':
          federation.abortRound(by, detail.reason ?? 'no reason given')
          break
        case 'extend':
          federation.extendDeadline(by, detail.seconds ?? Number.NaN)
          break
      }
    } catch (error) {
      // the federation's refusal (no round running, not paused, bad seconds): the run is as it was
      if (error instanceof RunControlError)
        throw new HostError(error.code === 'invalid' ? 'invalid' : 'wrong-state', error.message)
      throw error
    }
    this.#changed(task)
    return hosted.run ?? run
  }

  /** The task's latest run as the host knows it (null before any): its state, times and reason. */
  runOf(task: string): Run | null {
    return this.#tasks.get(task)?.run ?? null
  }

  /** Whether the task's run is preparing, and how far; null when it is not. */
  preparingOf(task: string): { readonly what: string; readonly done: number; readonly total: number } | null {
    const hosted = this.#tasks.get(task)
    return hosted?.live === null ? (hosted.preparing ?? null) : null
  }

  #changed(task: string): void {
    try {
      this.#opts.onRunChanged?.(task)
    } catch (error) {
      this.#opts.print(`warning: telling the console of task ${task}: ${(error as Error).message}`)
    }
  }

  /** Resolves once `task`'s run serves; rejects with the reason its preparation failed. */
  ready(task: string): Promise<LiveRun> {
    const hosted = this.#tasks.get(task)
    if (hosted?.ready == null) return Promise.reject(new Error(`task "${task}" has no run being prepared`))
    return hosted.ready
  }

  /** Resolves when no run is preparing or serving (every one ended), or the host closes: `fedtune coordinator --task` exits then. */
  whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      this.#idle.push(resolve)
      this.#checkIdle()
    })
  }

  open(name: string | undefined, ended = false): OpenTask {
    const hosted = name === undefined ? this.#only() : this.#tasks.get(name)
    if (hosted === undefined) throw unknownTask(name, this.#openNames())
    const task = hosted.file.name
    const run = hosted.run
    if (hosted.live === null || run === null) {
      if (run !== null && ENDED_RUN_STATES.includes(run.state))
        throw new ProtocolError(
          'task-finished',
          `task "${task}" has no run open: run ${run.id} ${run.state}${run.reason ? ` (${run.reason})` : ''}`,
        )
      const p = hosted.preparing
      throw new ProtocolError(
        'task-not-ready',
        run === null
          ? `task "${task}" has no run yet: an operator starts one (fedtune start --task ${task})`
          : `task "${task}" is preparing run ${run.id}${p ? ` (${p.what}: ${p.done} of ${p.total})` : ''}; try again shortly`,
      )
    }
    if (!ended && ENDED_RUN_STATES.includes(run.state))
      throw new ProtocolError(
        'task-finished',
        `task "${task}"'s run ${run.id} is over (${run.state}${run.reason ? `: ${run.reason}` : ''})`,
      )
    return hosted.live
  }

  backbone(digest: string): ServedBackbone | undefined {
    for (const hosted of this.#tasks.values())
      if (hosted.live?.backbone.digest === digest) return hosted.live.backbone
    return undefined
  }

  list(): readonly TaskListing[] {
    return [...this.#tasks.values()]
      .map((h) => ({
        name: h.file.name,
        phase:
          h.run === null
            ? ('idle' as const)
            : ENDED_RUN_STATES.includes(h.run.state)
              ? ('ended' as const)
              : h.live === null
                ? ('preparing' as const)
                : ('serving' as const),
        run: h.run && { id: h.run.id, state: h.run.state, reason: h.run.reason },
        preparing: h.live === null ? h.preparing : null,
      }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  get maxParamCount(): number {
    return this.#largestHead
  }

  /** Stops every federation (their rounds being kept are kept first); the store stays open. */
  async close(): Promise<void> {
    this.#closed = true
    this.#checkIdle()
    const done: Promise<unknown>[] = []
    for (const hosted of this.#tasks.values()) {
      if (hosted.live === null) continue
      hosted.live.federation.stop('coordinator closed')
      done.push(hosted.live.federation.done.catch(() => undefined))
    }
    await Promise.all(done)
  }

  #hosted(name: string, file: TaskFile): Hosted {
    let hosted = this.#tasks.get(name)
    if (hosted === undefined) {
      hosted = { file, run: null, live: null, preparing: null, ready: null }
      this.#tasks.set(name, hosted)
    }
    return hosted
  }

  /** Prepares `run` of the task and opens it to participants; a failed preparation fails the run, saying why. */
  #begin(hosted: Hosted, run: Run<TaskFile>): void {
    const { store, print } = this.#opts
    const settings = settingsOf(run)
    hosted.file = settings
    hosted.run = run
    hosted.live = null
    hosted.preparing = { what: 'loading the backbone', done: 0, total: 1 }
    const outDir = this.#opts.runFolder?.(run) ?? join(this.#opts.dataDir, 'runs', `${run.task}-${run.id}`)
    hosted.ready = (async () => {
      try {
        hosted.run = await store.runs.setFolder(run.id, outDir)
        const live = await prepareRun({
          store,
          task: settings,
          run,
          outDir,
          cacheDir: this.#opts.cacheDir,
          print,
          bars: this.#opts.bars,
          observer: this.#opts.observerOf?.(run),
          onProgress: (what, done, total) => {
            hosted.preparing = { what, done, total }
          },
          onEnded: (state, reason) => {
            hosted.run = { ...run, state, reason, endedAt: new Date().toISOString() }
            this.#checkIdle()
            this.#changed(run.task)
          },
        })
        if (this.#closed) {
          live.federation.stop('coordinator closed')
          return live
        }
        this.#largestHead = Math.max(this.#largestHead, live.info.paramCount)
        this.#opts.onReady?.(live)
        if (run.state === 'paused')
          // paused before the restart: still paused, until an operator resumes it
          live.federation.pause('system')
        else {
          hosted.run = await store.runs.setState(run.id, 'running')
          await store.audit.append({
            actor: 'system',
            action: 'run.started',
            outcome: 'ok',
            task: run.task,
            run: run.id,
            detail: { round: live.federation.state.round },
          })
        }
        hosted.live = live
        hosted.preparing = null
        this.#changed(run.task)
        await this.#opts.onOpen?.(live)
        live.federation.open()
        return live
      } catch (error) {
        const reason = `preparing the run failed: ${(error as Error).message}`
        hosted.preparing = null
        hosted.run = { ...run, state: 'failed', reason }
        await endRun(store, run.id, 'failed', reason).catch(() => undefined)
        this.#checkIdle()
        this.#changed(run.task)
        throw error
      }
    })()
    // a failure is the run's state, said to whoever awaits it (ready); never an unhandled rejection
    hosted.ready.catch((error: Error) => print(`error: task ${run.task}: run ${run.id}: ${error.message}`))
  }

  /** The task a connection that names none joins: the only one whose run is open, or the only task. */
  #only(): Hosted | undefined {
    const open = [...this.#tasks.values()].filter(
      (h) => h.run !== null && !ENDED_RUN_STATES.includes(h.run.state),
    )
    if (open.length === 1) return open[0]
    if (open.length === 0 && this.#tasks.size === 1) return [...this.#tasks.values()][0]
    return undefined
  }

  #openNames(): string[] {
    return this.list()
      .filter((t) => t.phase === 'serving' || t.phase === 'preparing')
      .map((t) => t.name)
  }

  #checkIdle(): void {
    const busy = [...this.#tasks.values()].some(
      (h) => h.run !== null && !ENDED_RUN_STATES.includes(h.run.state),
    )
    if (!busy || this.#closed) for (const resolve of this.#idle.splice(0)) resolve()
  }
}
