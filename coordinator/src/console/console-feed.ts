import {
  type ConsoleParticipant,
  type ConsolePrivacy,
  type ConsoleRun,
  type ConsoleWatchReply,
  type LiveRound,
  ProtocolError,
  type RoundEntry,
  type ServerToConsoleEvents,
} from '@fedtune/protocol'
import type { LiveRun } from '../host/live-run.ts'
import type { OpenTask, TaskListing } from '../host/task-directory.ts'
import type { RoundObserver, StageTiming } from '../rounds/round-observer.ts'
import type { RoundRecord } from '../rounds/round-record.ts'
import type { ParticipantEvent } from '../sockets/participant-event.ts'
import type { Run, Store } from '../store/index.ts'
import type { TaskFile } from '../tasks/task-file.ts'
import { bestRoundMetric, bestRoundView } from './best-round-view.ts'
import { consoleParticipant, type Seen } from './console-participant.ts'
import { consoleRun } from './console-run.ts'
import { liveRound } from './live-round.ts'
import { goneFrom, roundEntry } from './round-entry.ts'
import { heldOutFigures, keptRoundEvaluation } from './round-evaluation.ts'
import { RoundTraffic } from './round-traffic.ts'
import { runPrivacy } from './run-privacy.ts'
import type { FederationView, RunView, StageView } from './run-view.ts'
import { Throttle } from './throttle.ts'

const NO_ONE: { has(name: string): boolean } = new Set<string>()

/** What the feed reads of the task host (host/task-host.ts). */
export type FeedHost = {
  list(): readonly TaskListing[]
  open(task: string | undefined, ended?: boolean): OpenTask
  runOf(task: string): Run | null
  preparingOf(task: string): { readonly what: string; readonly done: number; readonly total: number } | null
}

/** Where the feed's events go: every console, or those watching a task (console-sockets.ts). */
export type FeedOut = {
  /** Whether any console watches `task`: what only watchers get is not even built otherwise. */
  watched(task: string): boolean
  toAll<E extends 'run' | 'audit'>(event: E, ...args: Parameters<ServerToConsoleEvents[E]>): void
  toWatchers<E extends 'round-live' | 'round-ended' | 'participant'>(
    task: string,
    event: E,
    ...args: Parameters<ServerToConsoleEvents[E]>
  ): void
}

export type ConsoleFeedOptions = {
  readonly store: Store
  readonly host: FeedHost
  /** At most one live round push per task this often while messages arrive (ms); stage changes go at once. */
  readonly liveEveryMs?: number
  readonly now?: () => number
  readonly onWarning?: (message: string) => void
}

/** GET /api/status's part from the feed. */
export type RunStatus = Pick<ConsoleRun, 'state' | 'waiting' | 'startedAt' | 'accuracy' | 'auc' | 'etaMs'>

/** The running round of a task, as the feed observed it so far. */
type OpenRound = {
  readonly run: number
  readonly round: number
  readonly startedAt: number
  readonly of: number
  readonly stages: StageTiming[]
}

/**
 * The coordinator's side of the operators' live console, as data: per run an observer of its
 * rounds, the socket shell's participant events and the host's run changes become ConsoleRun,
 * LiveRound, RoundEntry and ConsoleParticipant values (pure functions build each), pushed through
 * `FeedOut`. It holds only what the coordinator learns anyway: stages, survivors, timing, bytes.
 */
export class ConsoleFeed {
  readonly #opts: ConsoleFeedOptions
  readonly #now: () => number
  #out: FeedOut | null = null
  readonly #throttle: Throttle
  readonly #open = new Map<string, OpenRound>()
  /** RoundEntry of every round observed, per run id and round. */
  readonly #entries = new Map<number, Map<number, RoundEntry>>()
  readonly #traffic = new Map<string, RoundTraffic>()
  /** Per task, per participant name. */
  readonly #seen = new Map<string, Map<string, Seen>>()
  readonly #unsubscribe: () => void
  /** The kept records of runs this process does not serve (ended before it started), by run id. */
  readonly #stored = new Map<number, readonly RoundRecord[] | 'loading'>()

  constructor(opts: ConsoleFeedOptions) {
    this.#opts = opts
    this.#now = opts.now ?? Date.now
    this.#throttle = new Throttle(opts.liveEveryMs ?? 250, this.#now)
    this.#unsubscribe = opts.store.audit.subscribe((entry) => {
      this.#out?.toAll('audit', entry)
      if (entry.task !== null && entry.target !== null && entry.action.startsWith('participant.'))
        this.#pushParticipant(entry.task, entry.target)
    })
  }

  /** Where events go from now on (the console's socket server). */
  attach(out: FeedOut): void {
    this.#out = out
  }

  /** The observer of one run's rounds (the host asks once per run it prepares). */
  observerOf(run: Run): RoundObserver {
    const task = run.task
    return {
      roundStarted: (round, participants) => {
        this.#open.set(task, { run: run.id, round, startedAt: this.#now(), of: participants, stages: [] })
        this.#trafficOf(task).roundStarted()
        // in a microtask: the round's secure aggregation opens right after this hook returns
        this.#throttle.run(`live ${task}`, () => this.#pushLive(task), true)
        this.runChanged(task)
      },
      stageRelayed: (timing) => {
        const open = this.#open.get(task)
        if (open?.round === timing.round) open.stages.push(timing)
        this.#throttle.run(`live ${task}`, () => this.#pushLive(task), true)
      },
      roundEnded: (record) => {
        const open = this.#open.get(task)
        const observed = open?.round === record.round ? open : undefined
        if (observed) this.#open.delete(task)
        const traffic = this.#trafficOf(task).roundEnded()
        const entry = roundEntry(
          task,
          record,
          observed && { stages: observed.stages, traffic },
          this.#majority(task),
        )
        let entries = this.#entries.get(run.id)
        if (entries === undefined) {
          entries = new Map()
          this.#entries.set(run.id, entries)
        }
        entries.set(record.round, entry)
        this.#out?.toWatchers(task, 'round-ended', this.#withEvaluation(task, entry, record))
        // This hook runs while the commit queue still holds the round (it lets go in a later
        // microtask): the run's row is pushed once it has, else it would stay "writing the round".
        const changed = setImmediate(() => this.runChanged(task))
        changed.unref()
        for (const name of record.selected) this.#pushParticipant(task, name)
      },
    }
  }

  /** The socket shell's word about a participant's connection. */
  participant(event: ParticipantEvent): void {
    const { task, participant } = event
    const at = new Date(this.#now()).toISOString()
    let seen = this.#seen.get(task)
    if (seen === undefined) {
      seen = new Map()
      this.#seen.set(task, seen)
    }
    const before = seen.get(participant)
    seen.set(participant, {
      lastSeen: at,
      agent: event.type === 'joined' ? event.agent : (before?.agent ?? ''),
    })
    if (event.type === 'message') {
      this.#throttle.run(`live ${task}`, () => this.#pushLive(task))
      return
    }
    if (event.type === 'joined') this.#trafficOf(task).joined(participant, event.traffic)
    else this.#trafficOf(task).left(participant, event.traffic)
    this.#pushParticipant(task, participant)
    this.#throttle.run(`live ${task}`, () => this.#pushLive(task))
    this.#throttle.run(`run ${task}`, () => this.#pushRun(task))
  }

  /** A task's run changed (host/task-host.ts onRunChanged): every console hears of it at once. */
  runChanged(task: string): void {
    this.#throttle.run(`run ${task}`, () => this.#pushRun(task), true)
  }

  /** Every hosted task's run, for a console that connects. */
  runs(): ConsoleRun[] {
    return this.#opts.host.list().map((t) => consoleRun(this.#view(t.name)))
  }

  /** One task's run as the console shows it; null for a task not hosted. */
  run(task: string): ConsoleRun | null {
    return this.#opts.host.list().some((t) => t.name === task) ? consoleRun(this.#view(task)) : null
  }

  /**
   * What GET /api/status adds, by the same code as the console's runs: what the run waits for, when it
   * started, the last held-out metrics, and what is left of it at the mean round duration.
   */
  status(task: string): RunStatus {
    const run = consoleRun(this.#view(task))
    return {
      state: run.state,
      waiting: run.waiting,
      startedAt: run.startedAt,
      accuracy: run.accuracy,
      auc: run.auc,
      etaMs: run.etaMs,
    }
  }

  /** What a console watching `task` starts from. */
  async watch(task: string): Promise<ConsoleWatchReply> {
    const run = this.run(task)
    if (run === null)
      return {
        ok: false,
        error: 'unknown-task',
        message: `expected a task this coordinator hosts (${
          this.#opts.host
            .list()
            .map((t) => JSON.stringify(t.name))
            .join(', ') || 'none yet'
        }), got ${JSON.stringify(task)}`,
      }
    return {
      ok: true,
      run,
      live: this.#live(task),
      timeline: this.#timeline(task),
      participants: await this.#participants(task),
    }
  }

  close(): void {
    this.#unsubscribe()
    this.#throttle.close()
  }

  #pushRun(task: string): void {
    const run = this.run(task)
    if (run !== null) this.#out?.toAll('run', run)
  }

  #pushLive(task: string): void {
    if (!this.#out?.watched(task)) return
    const live = this.#live(task)
    if (live !== null) this.#out?.toWatchers(task, 'round-live', live)
  }

  #pushParticipant(task: string, name: string): void {
    if (!this.#out?.watched(task)) return
    void this.#participant(task, name).then(
      (p) => {
        if (p !== null) this.#out?.toWatchers(task, 'participant', p)
      },
      (error: Error) =>
        this.#opts.onWarning?.(`console: reading participant ${name} of ${task}: ${error.message}`),
    )
  }

  #live(task: string): LiveRound | null {
    const open = this.#open.get(task)
    const served = this.#openTask(task)
    const stage = served && this.#stageOf(served)
    if (open === undefined || !stage) return null
    return liveRound(task, open.round, open.startedAt, open.of, stage, goneFrom(open.stages))
  }

  #timeline(task: string): RoundEntry[] {
    const run = this.#opts.host.runOf(task)
    if (run === null) return []
    const entries = this.#entries.get(run.id)
    const majority = this.#majority(task)
    const records = this.#recordsOf(task, run.id)
    const latest = [...records].reverse().find((r) => r.status === 'aggregated')
    return records.map((r) => {
      const entry = entries?.get(r.round) ?? roundEntry(task, r, undefined, majority)
      return r === latest ? this.#withEvaluation(task, entry, r) : entry
    })
  }

  /** An aggregated round's entry with its evaluation in full (the task's label names on the matrix). */
  #withEvaluation(task: string, entry: RoundEntry, record: RoundRecord): RoundEntry {
    return { ...entry, evaluation: keptRoundEvaluation(record, this.#opts.host.runOf(task)?.settings) }
  }

  /**
   * A run's records: its log while this process serves it, else the store's (a run that ended
   * before a restart), read once in the background; the run is pushed again once they are in.
   */
  #recordsOf(task: string, runId: number): readonly RoundRecord[] {
    const open = this.#openTask(task)
    if (open !== null) return open.log.records
    const stored = this.#stored.get(runId)
    if (stored === 'loading') return []
    if (stored !== undefined) return stored
    this.#stored.set(runId, 'loading')
    this.#opts.store.rounds.list(runId).then(
      (rows) => {
        this.#stored.set(
          runId,
          rows.map((row) => row.record as RoundRecord),
        )
        this.runChanged(task)
      },
      (error: Error) => {
        this.#stored.delete(runId)
        this.#opts.onWarning?.(`console: reading the rounds of run ${runId}: ${error.message}`)
      },
    )
    return []
  }

  async #participants(task: string): Promise<ConsoleParticipant[]> {
    const stored = await this.#opts.store.participants.byTask(task)
    const context = this.#participantContext(task)
    return stored.map((p) =>
      consoleParticipant(
        p,
        context.online.has(p.name),
        context.excluded.has(p.name),
        this.#seen.get(task)?.get(p.name),
        context.records,
        context.now,
        context.droppedIn,
      ),
    )
  }

  async #participant(task: string, name: string): Promise<ConsoleParticipant | null> {
    const stored = await this.#opts.store.participants.byName(task, name)
    if (stored === null) return null
    const c = this.#participantContext(task)
    return consoleParticipant(
      stored,
      c.online.has(name),
      c.excluded.has(name),
      this.#seen.get(task)?.get(name),
      c.records,
      c.now,
      c.droppedIn,
    )
  }

  #participantContext(task: string) {
    const open = this.#openTask(task)
    return {
      // read where they are kept (no copy of everyone online at each participant's update)
      online: open ? open.federation.state.online : NO_ONE,
      excluded: open ? open.federation.excluded : NO_ONE,
      records: open?.log.records ?? ([] as RoundRecord[]),
      now: new Date(this.#now()).toISOString(),
      droppedIn: (round: number): readonly string[] | undefined => {
        const run = this.#opts.host.runOf(task)
        if (run === null) return undefined
        return this.#entries
          .get(run.id)
          ?.get(round)
          ?.dropouts.map((d) => d.participant)
      },
    }
  }

  #trafficOf(task: string): RoundTraffic {
    let traffic = this.#traffic.get(task)
    if (traffic === undefined) {
      traffic = new RoundTraffic()
      this.#traffic.set(task, traffic)
    }
    return traffic
  }

  /** The task's run's federation, when it serves (or served and ended in this process). */
  #openTask(task: string): OpenTask | null {
    try {
      return this.#opts.host.open(task, true)
    } catch (error) {
      if (error instanceof ProtocolError) return null
      throw error
    }
  }

  #majority(task: string): number | null {
    const open = this.#openTask(task)
    return open !== null && 'majority' in open ? (open as LiveRun).majority : null
  }

  #stageOf(open: OpenTask): StageView | null {
    const f = open.federation
    const state = f.state
    const secure = f.secureStage
    if (secure)
      return {
        stage: secure.stage as StageView['stage'],
        waitingFor: secure.waitingFor,
        deadlineAt: state.deadlineAt,
      }
    if (open.info.aggregation === 'secure' || state.phase !== 'training' || state.deadlineAt === null)
      return null
    return {
      stage: 'update',
      waitingFor: state.selected.filter((p) => !state.received.has(p)),
      deadlineAt: state.deadlineAt,
    }
  }

  /** Everything the pure functions need to know of a task's run. */
  #view(task: string): RunView {
    const { host } = this.#opts
    const run = host.runOf(task)
    const settings = run?.settings as TaskFile | undefined
    const open = run === null ? null : this.#openTask(task)
    const records = run === null ? [] : this.#recordsOf(task, run.id)
    const last =
      [...records]
        .reverse()
        .map((r) => (r.status === 'aggregated' ? heldOutFigures(r) : null))
        .find((figures) => figures !== null) ?? null
    return {
      task,
      run: run && {
        id: run.id,
        state: run.state,
        reason: run.reason,
        startedAt: run.startedAt,
        endedAt: run.endedAt,
      },
      rounds: settings?.training.rounds ?? 0,
      secure: settings ? settings.aggregation.mode === 'secure' : true,
      preparing: host.preparingOf(task),
      federation: open && this.#federationView(open),
      last,
      best: bestRoundView(records, bestRoundMetric(settings)),
      durations: records.map((r) => r.durationMs),
      kept: {
        round: records.at(-1)?.round ?? 0,
        completed: records.filter((r) => r.status === 'aggregated').length,
        failed: records.filter((r) => r.status === 'failed').length,
      },
      ...runPrivacy({
        task: settings === undefined ? undefined : (settings.privacy ?? null),
        served: open && { settings: open.info.privacy, spent: spentOf(open) },
        records,
      }),
    }
  }

  #federationView(open: OpenTask): FederationView {
    const f = open.federation
    const s = f.state
    return {
      phase: s.phase,
      round: s.round,
      paused: s.paused,
      pausedBy: f.pausedBy,
      committing: f.committing,
      online: s.online.size,
      needed: s.config.minParticipants,
      gathering: s.gathering,
      gatherUntil: f.gatherUntil,
      completed: s.completed,
      failed: s.failed,
      stage: this.#stageOf(open),
    }
  }
}

/** A serving run's budget as it stands: ε spent over the rounds accounted, of the target. */
function spentOf(open: OpenTask): ConsolePrivacy | null {
  const spent = open.federation.privacy
  return spent && { unit: spent.unit, epsilon: spent.epsilon, target: spent.target, delta: spent.delta }
}
