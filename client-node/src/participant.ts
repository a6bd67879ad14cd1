import { mkdirSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import {
  binaryFigures,
  type ClinicalMetrics,
  dominantWarning,
  type LocalResult,
  localRound,
  metricsLine,
  secureContribution,
} from '@fedtune/model'
import { progressBar } from '@fedtune/model/node'
import {
  type BudgetDecision,
  CHALLENGE_WAIT_MS,
  type ClientToServerEvents,
  connectRefusal,
  cryptoRandom,
  encodeRoundContribution,
  encodeWeights,
  type Finished,
  type FixedPoint,
  flattenEvaluationCounts,
  formatWait,
  type HelloOutcome,
  helloHandshake,
  keyFingerprint,
  localDeltaProblem,
  NO_CHALLENGE_NOTICE,
  type PrivacySettings,
  packedParser,
  parseFinished,
  parseRefused,
  parseRoundResult,
  parseRoundStart,
  parseUpdateAck,
  privacyStatement,
  type RandomSource,
  refusalOutcome,
  reportedEpsilon,
  retryDelayMs,
  type SecaggAnswer,
  SecureRoundDriver,
  type SecureRoundReport,
  type ServerToClientEvents,
  spentLine,
  type TaskInfo,
  type WireUpdate,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { io, type Socket } from 'socket.io-client'
import { type Connection, stopsAt } from './connection.ts'
import { appendHistory, historyFile, type LocalMetricsOfGlobal, type RoundOutcome } from './history.ts'
import type { LogFields, Logger } from './log.ts'
import { type PreparedData, prepare } from './prepare.ts'
import { checkRound, openPrivacyBudget, type PrivacyBudget, releaseRound } from './privacy-budget.ts'
import { refusalAdvice } from './refusal-advice.ts'

export type ParticipantOptions = {
  readonly coordinatorUrl: string
  readonly dataDir: string
  /** A labels file (CSV: path, label) labelling a flat export in dataDir, instead of class subfolders. */
  readonly labelsFile?: string | undefined
  readonly cacheDir: string
  readonly name: string
  readonly valFraction: number
  readonly agent: string
  /** Where every line goes (log.ts): text for people, json for a log collector. */
  readonly log: Logger
  /** Where progress bars go; undefined for none. */
  readonly progress: NodeJS.WriteStream | undefined
  /** The 32-byte seed of this participant's Ed25519 identity (identity.ts). */
  readonly identitySeed: Uint8Array
  /** Join a task whose coordinator asks for plaintext updates (plaintext-debug); refused otherwise. */
  readonly allowPlaintext: boolean
  /** A folder where each round's contribution is kept, as trained and as encoded before masking. */
  readonly auditDir?: string | undefined
  /** The task to join (the connection's `auth.task`); undefined for the coordinator's only open task. */
  readonly task?: string | undefined
  /** An enrolment code, said on every hello until the first join; never printed. */
  readonly invite?: string | undefined
  /** The identity key's file, for advice after an identity refusal. */
  readonly keyFile?: string | undefined
  /** The backoff's jitter, in [0, 1); `Math.random` unless a test says otherwise. */
  readonly random?: () => number
  /** Trust and proxy for the websocket and the backbone download (connection.ts); direct, Node's CAs without. */
  readonly connection?: Connection | undefined
}

export class ParticipantError extends Error {
  /**
   * Whether retrying cannot help: the coordinator refused this participant with a final code
   * (`refusalIsFinal`), or this participant refused the coordinator's task. `fedtune client` exits 3.
   */
  readonly final: boolean

  constructor(message: string, options: { final?: boolean } = {}) {
    super(message)
    this.name = 'ParticipantError'
    this.final = options.final ?? false
  }
}

/**
 * How a participant ended without an error: the coordinator finished the run, `close()` stopped it,
 * or it left because the next round would take it past the task's privacy budget (`reason` says by
 * how much; `fedtune client` exits 4).
 */
export type ParticipantEnd =
  | ({ readonly how: 'finished' } & Finished)
  | { readonly how: 'stopped' }
  | { readonly how: 'budget-spent'; readonly reason: string; readonly decision: BudgetDecision }

/** A round this participant was given, from its start to its result: what the history keeps. */
type RoundTally = {
  bytes: number
  /** Whether its contribution (the update, or the masked input) went out. */
  sent: boolean
  examples: number | null
  global: LocalMetricsOfGlobal | null
  readonly secure: boolean
}

export function defaultName(): string {
  return `hospital-${hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 40)}`
}

/**
 * A hospital's connection to the coordinator, for one task. socket.io reconnects on its own; after
 * every (re)connect the participant says hello again under the same name and the coordinator resends
 * a round it still owes. An update already computed for a round is resent, never retrained.
 */
export class Participant {
  readonly done: Promise<ParticipantEnd>
  #opts: ParticipantOptions
  #socket: Socket<ServerToClientEvents, ClientToServerEvents>
  #task: TaskInfo | undefined
  #data: Promise<PreparedData> | undefined
  #joined = false
  #challengeTimer: NodeJS.Timeout | undefined
  /** The next connection after a refusal worth retrying; cleared by close. */
  #retryTimer: NodeJS.Timeout | undefined
  /** Refusals worth retrying since the last join: the backoff's exponent. */
  #retries = 0
  /** Said until the first join, then dropped: the coordinator has enrolled this name by then. */
  #invite: string | undefined
  #pendingSaid = false
  #closed = false
  #training = new Set<number>()
  #results = new Map<number, LocalResult>()
  /** This hospital's side of the secure rounds (protocol/src/secure-round-driver.ts). */
  #secure: SecureRoundDriver
  /** The rounds given to this participant and not yet ended, by number (history.ts). */
  #rounds = new Map<number, RoundTally>()
  /** The task's privacy budget here, read from the ledger at the first join; null without privacy. */
  #budget: PrivacyBudget | null = null
  #resolve!: (end: ParticipantEnd) => void
  #reject!: (e: Error) => void

  constructor(opts: ParticipantOptions) {
    this.#opts = opts
    this.#invite = opts.invite
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    this.#secure = new SecureRoundDriver({
      crypto: nodeCrypto,
      identitySeed: opts.identitySeed,
      emit: (round, message) => this.#emitSecagg(round, message),
      report: (report) => this.#reportSecure(report),
    })
    this.#socket = io(opts.coordinatorUrl, {
      transports: ['websocket'],
      parser: packedParser,
      // Which of the coordinator's tasks this connection is for (docs/protocol.md, "Tasks and enrolment").
      ...(opts.task === undefined ? {} : { auth: { task: opts.task } }),
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      ...opts.connection?.socketOptions,
    })
    // After every (re)connect the coordinator sends a fresh challenge; the hello signs it.
    this.#socket.on('challenge', (raw) => {
      clearTimeout(this.#challengeTimer)
      this.#hello(raw)
    })
    // What this socket emits, framing included, is counted to the rounds it is in (the history's
    // bytesSent): every engine packet created, once per engine (a reconnect opens a new one).
    this.#socket.io.on('open', () =>
      this.#socket.io.engine.on('packetCreate', (packet: { type: string; data?: unknown }) =>
        this.#count(packet),
      ),
    )
    this.#socket.on('connect', () => {
      this.#challengeTimer = setTimeout(
        () => opts.log.warn('no-challenge', {}, NO_CHALLENGE_NOTICE),
        CHALLENGE_WAIT_MS,
      )
      this.#challengeTimer.unref()
    })
    this.#socket.on('disconnect', (reason) => {
      this.#joined = false
      // The coordinator counts us out of a secure round in flight and never resends it.
      this.#secure.end(null)
      for (const [round, tally] of this.#rounds)
        if (tally.secure)
          this.#ended(
            round,
            'dropped',
            tally.sent
              ? `disconnected after sending (${reason}); its masked input may still be in the aggregate`
              : `disconnected (${reason})`,
          )
      if (reason !== 'io client disconnect')
        opts.log.warn('disconnected', { reason }, `disconnected (${reason}); reconnecting…`)
    })
    this.#socket.on('connect_error', (error) => {
      // A certificate that does not verify ends the client (exit 3), never a silent retry or fallback.
      const failure = opts.connection?.failureOf(error) ?? null
      if (failure !== null && stopsAt(failure, this.#task !== undefined))
        return this.#fail(new ParticipantError(failure.message, { final: failure.untrustedCoordinator }))
      if (failure !== null)
        return opts.log.warn('connect-failed', { code: failure.code }, `${failure.message}; retrying…`)
      // A coordinator may refuse a connection before its challenge (socket.io middleware), the
      // refusal in the error's data; socket.io does not reconnect after that by itself.
      let refusal: ReturnType<typeof connectRefusal>
      try {
        refusal = connectRefusal(error)
      } catch (malformed) {
        opts.log.warn(
          'malformed',
          { what: 'refusal' },
          `warning: a malformed refusal came with the connection error: ${(malformed as Error).message}`,
        )
      }
      if (refusal) return this.#helloOutcome(refusalOutcome(refusal.code, refusal.reason, this.#backoff()))
      if (this.#socket.active)
        return opts.log.warn(
          'unreachable',
          { coordinator: opts.coordinatorUrl, reason: error.message },
          `cannot reach ${opts.coordinatorUrl} (${error.message}); retrying…`,
        )
      const afterMs = retryDelayMs(this.#retries, opts.random)
      this.#retry(
        'unknown',
        `the coordinator refused the connection (${error.message}); trying again in ${formatWait(afterMs)}`,
        afterMs,
      )
    })
    // A limit broken, or an operator's revocation, just before the coordinator closes the connection.
    this.#socket.on('refused', (raw) => {
      let refused: ReturnType<typeof parseRefused>
      try {
        refused = parseRefused(raw)
      } catch (error) {
        return opts.log.warn(
          'malformed',
          { what: 'refused' },
          `warning: ignored a malformed "refused" message: ${(error as Error).message}`,
        )
      }
      this.#helloOutcome(refusalOutcome(refused.code, refused.reason, this.#backoff()))
    })
    this.#socket.on('round', (raw) => this.#onRound(raw))
    this.#socket.on('secagg', (raw) => void this.#secure.relay(raw))
    this.#socket.on('round-result', (raw) => {
      try {
        const r = parseRoundResult(raw)
        this.#secure.end(r.round)
        const global =
          r.accuracy === null ? '' : `: global ACC ${r.accuracy.toFixed(3)} AUC ${r.auc?.toFixed(3) ?? '-'}`
        opts.log.info(
          'round-result',
          {
            round: r.round,
            status: r.status,
            reason: r.reason ?? undefined,
            participants: r.participants,
            accuracy: r.accuracy,
            auc: r.auc,
          },
          `round ${r.round} ${r.status}${r.reason ? ` (${r.reason})` : ''}${global}`,
        )
        this.#reportEpsilon(r.round, r.epsilon)
        const tally = this.#rounds.get(r.round)
        if (tally)
          this.#ended(
            r.round,
            r.status === 'failed' ? 'failed' : tally.sent ? 'aggregated' : 'dropped',
            r.status === 'failed' ? r.reason : tally.sent ? null : 'our contribution was not sent in time',
            r.epsilon,
          )
      } catch (error) {
        opts.log.warn(
          'malformed',
          { what: 'round-result' },
          `warning: ignored a malformed round result: ${(error as Error).message}`,
        )
      }
    })
    this.#socket.on('finished', (raw) => {
      try {
        this.#finish({ how: 'finished', ...parseFinished(raw) })
      } catch (error) {
        this.#fail(new ParticipantError(`malformed "finished" message: ${(error as Error).message}`))
      }
    })
  }

  /**
   * Stops taking part (SIGTERM, SIGINT): a round in progress is left, which the coordinator handles
   * as an ordinary dropout, and kept in the history as dropped; `done` resolves with 'stopped'.
   */
  close(): void {
    if (this.#closed) return
    for (const round of [...this.#rounds.keys()]) this.#ended(round, 'dropped', 'stopped')
    clearTimeout(this.#challengeTimer)
    this.#finish({ how: 'stopped' })
  }

  /** Counts an emitted engine packet to the rounds in progress (pings and pongs too: they are traffic). */
  #count(packet: { type: string; data?: unknown }): void {
    if (this.#rounds.size === 0) return
    const d = packet.data
    const bytes =
      1 +
      (typeof d === 'string'
        ? Buffer.byteLength(d)
        : d instanceof ArrayBuffer || ArrayBuffer.isView(d)
          ? d.byteLength
          : 0)
    for (const tally of this.#rounds.values()) tally.bytes += bytes
  }

  /**
   * Under privacy, after every round: this hospital's ledger's ε beside the coordinator's, and a
   * loud warning when the coordinator's is higher over rounds this hospital all released.
   */
  #reportEpsilon(round: number, coordinator: number | null): void {
    const budget = this.#budget
    if (budget === null || coordinator === null) return
    const { line, warning } = reportedEpsilon({
      round,
      coordinator,
      own: budget.epsilon,
      released: budget.spent.map((s) => s.round),
      privacy: budget.privacy,
      holder: 'this hospital',
    })
    this.#opts.log.info('privacy-reported', { round, epsilon: budget.epsilon, coordinator }, line)
    if (warning)
      this.#opts.log.warn('privacy-excess', { round, epsilon: budget.epsilon, coordinator }, warning)
  }

  /**
   * A round this participant was given ends: one line in its history (history.ts), with the ε the
   * coordinator reported for it (null: no result came), then forgotten.
   */
  #ended(
    round: number,
    outcome: RoundOutcome,
    reason: string | null,
    coordinatorEpsilon: number | null = null,
  ): void {
    const tally = this.#rounds.get(round)
    const task = this.#task
    if (!tally || !task) return
    this.#rounds.delete(round)
    if (outcome === 'dropped')
      this.#opts.log.warn(
        'dropped-out',
        { round, reason: reason ?? undefined },
        `round ${round}: this hospital dropped out${reason ? ` (${reason})` : ''}`,
      )
    try {
      appendHistory(historyFile(this.#opts.cacheDir, task.name, this.#opts.name), {
        round,
        time: new Date().toISOString(),
        task: task.name,
        outcome,
        reason,
        bytesSent: tally.bytes,
        examples: tally.examples,
        global: tally.global,
        privacy: this.#budget?.epsilon ?? null,
        coordinatorEpsilon: this.#budget ? coordinatorEpsilon : null,
      })
    } catch (error) {
      // The history is this hospital's record, not the federation's: losing a line is said, not fatal.
      this.#opts.log.warn(
        'history-not-written',
        { round },
        `round ${round}: could not write the history (${(error as Error).message})`,
      )
    }
  }

  #backoff(): { retries: number; random?: () => number } {
    return { retries: this.#retries, ...(this.#opts.random ? { random: this.#opts.random } : {}) }
  }

  #hello(challenge: unknown): void {
    helloHandshake(
      challenge,
      {
        crypto: nodeCrypto,
        identitySeed: this.#opts.identitySeed,
        participant: this.#opts.name,
        kind: 'hospital',
        agent: this.#opts.agent,
        allowPlaintext: this.#opts.allowPlaintext,
        joined: this.#task,
        invite: this.#invite,
        ...this.#backoff(),
      },
      (hello, waitMs, answer) => this.#socket.timeout(waitMs).emit('hello', hello, answer),
      (outcome) => this.#helloOutcome(outcome),
    )
  }

  #helloOutcome(outcome: HelloOutcome): void {
    if (outcome.type === 'unanswered') {
      this.#opts.log.warn('unanswered', {}, outcome.message)
      return
    }
    if (outcome.type === 'retry') {
      this.#retry(outcome.code, outcome.message, outcome.afterMs)
      return
    }
    if (outcome.type === 'stopped') {
      const advice =
        outcome.why === 'plaintext'
          ? '; pass --allow-plaintext only to debug with data that is not private'
          : outcome.code !== undefined
            ? `. ${refusalAdvice(outcome.code, this.#advice())}`
            : ''
      this.#fail(new ParticipantError(`${outcome.message}${advice}`, { final: outcome.why !== 'malformed' }))
      return
    }
    const { task } = outcome
    const first = this.#task === undefined
    this.#task ??= task
    this.#joined = true
    this.#retries = 0
    this.#invite = undefined
    this.#opts.log.info(
      'joined',
      {
        task: task.name,
        name: this.#opts.name,
        rounds: task.rounds,
        parameters: task.paramCount,
        aggregation: task.aggregation,
      },
      `joined task "${task.name}" as ${this.#opts.name}: ${task.rounds} rounds, head of ${task.paramCount} parameters`,
    )
    if (first && !this.#takePrivacy(task)) return
    this.#data ??= prepare(task, { ...this.#opts, seed: 0, fetchUrl: this.#opts.connection?.fetch }).then(
      (data) => this.#checkLocalDelta(task, data),
    )
    this.#data.catch((error: Error) => this.#fail(error))
  }

  /**
   * Before anything else of the task: its privacy statement (also when it has none: then it says
   * so), and under privacy the budget this hospital has spent on it (its ledger, kept across
   * restarts). Whether this participant goes on: not when its ledger cannot be read, nor when the
   * budget cannot take even one more round (known at once for unit "example"; for unit
   * "participant" the round's fixed point is needed, so that is checked when a round comes).
   */
  #takePrivacy(task: TaskInfo): boolean {
    const log = this.#opts.log
    const { privacy } = task
    const statement = privacyStatement(privacy)
    for (const [i, line] of statement.entries())
      log.info(
        'privacy-statement',
        i === 0
          ? { part: 1, of: statement.length, ...privacyFields(privacy) }
          : { part: i + 1, of: statement.length },
        line,
      )
    if (privacy === null) return true
    let budget: PrivacyBudget
    try {
      budget = openPrivacyBudget(task, privacy, this.#opts.cacheDir, this.#opts.name)
    } catch (error) {
      this.#fail(error as Error)
      return false
    }
    this.#budget = budget
    const trained = budget.spent.length
    log.info(
      'privacy-budget',
      {
        rounds: trained,
        epsilon: budget.epsilon,
        target: privacy.epsilon,
        delta: privacy.delta,
        ledger: budget.file,
      },
      `privacy budget: ${spentLine(budget.epsilon, privacy)}, ${trained === 0 ? 'no round trained yet' : `${trained} round${trained === 1 ? '' : 's'} trained before (${budget.file})`}`,
    )
    const decision = checkRound(budget, null, 'another round')
    if (decision === null || decision.train) return true
    this.#leave(decision)
    return false
  }

  /** Unit "example" promises nothing with δ ≥ 1/n for this hospital's n: it refuses the task for good. */
  #checkLocalDelta(task: TaskInfo, data: PreparedData): PreparedData {
    const problem = task.privacy && localDeltaProblem(task.privacy, data.train.n)
    if (problem) throw new ParticipantError(`refusing the task: ${problem}`, { final: true })
    return data
  }

  /**
   * The next round would take this hospital past the task's privacy budget: it says so with the
   * figures and leaves the run (the coordinator counts it out like any participant that goes).
   */
  #leave(decision: BudgetDecision & { train: false }): void {
    const { rounds, spent, after, target, delta } = decision
    this.#opts.log.warn(
      'privacy-budget-spent',
      { rounds, epsilon: spent, after, target, delta },
      `${decision.reason}: leaving the run`,
    )
    this.#finish({ how: 'budget-spent', reason: decision.reason, decision })
  }

  #advice() {
    return {
      task: this.#opts.task,
      name: this.#opts.name,
      keyFile: this.#opts.keyFile ?? `the identity file of ${this.#opts.name}`,
    }
  }

  /**
   * A refusal worth retrying: this connection ends, and a new one (a new challenge, a new hello)
   * starts after `afterMs`. Waiting for approval is explained once, with what the operator needs.
   */
  #retry(code: string, message: string, afterMs: number): void {
    if (this.#closed) return
    this.#retries += 1
    const log = this.#opts.log
    if (code !== 'pending-approval') log.warn('refused', { code, retryInMs: afterMs }, message)
    else if (!this.#pendingSaid) {
      this.#pendingSaid = true
      const fingerprint = keyFingerprint(nodeCrypto.ed25519PublicKey(this.#opts.identitySeed))
      log.warn('refused', { code, retryInMs: afterMs }, message)
      log.info(
        'waiting-approval',
        { name: this.#opts.name, fingerprint },
        `waiting for an operator to approve ${this.#opts.name} with identity key fingerprint ${fingerprint}; ${refusalAdvice('pending-approval', this.#advice())}. Asking again with a growing wait, up to every minute`,
      )
    }
    clearTimeout(this.#retryTimer)
    this.#socket.disconnect()
    this.#retryTimer = setTimeout(() => {
      if (!this.#closed) this.#socket.connect()
    }, afterMs)
  }

  async #onRound(raw: unknown): Promise<void> {
    const task = this.#task
    const log = this.#opts.log
    if (!task || !this.#data)
      return log.warn('malformed', { what: 'round' }, 'warning: a round arrived before the task; ignored')
    let round: ReturnType<typeof parseRoundStart>
    try {
      round = parseRoundStart(raw, task.paramCount, task.head.labels.length)
    } catch (error) {
      return log.warn(
        'malformed',
        { what: 'round' },
        `warning: ignored a malformed round: ${(error as Error).message}`,
      )
    }
    if (round.secagg) return this.#onSecureRound(task, round)
    if (task.aggregation === 'secure')
      return this.#fail(
        new ParticipantError(`round ${round.round} came without secure aggregation in a secure task`),
      )
    if (task.privacy !== null)
      return this.#fail(
        new ParticipantError(
          `round ${round.round} asks for a plaintext update in a task with differential privacy: a plaintext update carries this hospital's example and label counts, which the privacy statement keeps out; refusing`,
          { final: true },
        ),
      )
    const ready = this.#results.get(round.round)
    if (ready) return this.#send(round.round, ready)
    if (this.#training.has(round.round)) return
    this.#training.add(round.round)
    this.#started(round, false)
    try {
      const result = this.#train(task, await this.#data, round)
      this.#results.set(round.round, result)
      this.#send(round.round, result)
    } catch (error) {
      this.#fail(error as Error)
    } finally {
      this.#training.delete(round.round)
    }
  }

  /** A round given to this participant: counted from here to its result (history.ts). */
  #started(round: ReturnType<typeof parseRoundStart>, secure: boolean): void {
    // a round whose result never reached us (missed while reconnecting) stops counting bytes here
    for (const earlier of [...this.#rounds.keys()])
      if (earlier < round.round) this.#ended(earlier, 'dropped', 'no result came before the next round')
    if (!this.#rounds.has(round.round))
      this.#rounds.set(round.round, { bytes: 0, sent: false, examples: null, global: null, secure })
    this.#opts.log.info(
      'round-start',
      { round: round.round, secure, epochs: round.training.epochs },
      `round ${round.round}: started${secure ? ' (secure aggregation)' : ''}, ${round.training.epochs} local epochs`,
    )
  }

  /**
   * The global head this round starts from (the previous round's aggregate, or the initial head in
   * round 1, with the round's prediction prior) on this hospital's own validation split: what the
   * federation's model is worth here. Exact, printed and kept in the history; never sent (only its
   * counts go into the secure sum).
   */
  #reportReceived(task: TaskInfo, round: number, m: ClinicalMetrics | null): void {
    if (m === null) return
    const labels = task.head.labels
    const global = {
      accuracy: m.accuracy,
      auc: m.auc,
      examples: m.examples,
      balancedAccuracy: m.balancedAccuracy,
      recall: m.perClass.map((c) => c.recall),
    }
    const tally = this.#rounds.get(round)
    if (tally) tally.global = global
    const binary = binaryFigures(m)
    this.#opts.log.info(
      'global-metrics',
      {
        round,
        ...global,
        ...(binary ?? {}),
        ...(m.ordinal ? { qwk: m.ordinal.qwk, mae: m.ordinal.mae } : {}),
      },
      `round ${round}: the global head it starts from, on this hospital's ${m.examples} validation images: ${metricsLine(m, labels)}`,
    )
    const dominant = dominantWarning(m, labels, `round ${round}: on this hospital's validation images`)
    if (dominant) this.#opts.log.warn('one-class', { round }, dominant)
  }

  #train(
    task: TaskInfo,
    data: PreparedData,
    round: ReturnType<typeof parseRoundStart>,
    random?: RandomSource,
  ): LocalResult {
    const bar =
      this.#opts.progress &&
      progressBar(`round ${round.round} training`, round.training.epochs, this.#opts.progress)
    const result = localRound(task.head, task.backbone.embeddingDim, data, round, {
      ordinal: task.ordinal,
      onProgress: (p) => (p.batch === p.batches ? bar?.tick(1, `loss ${p.loss.toFixed(4)}`) : undefined),
      privacy: task.privacy,
      ...(random ? { random: () => random } : {}),
    })
    bar?.done()
    this.#reportReceived(task, round.round, result.received)
    const m = result.metrics
    const tally = this.#rounds.get(round.round)
    if (tally) tally.examples = result.examples
    const steps = result.privateSteps
    this.#opts.log.info(
      'trained',
      {
        round: round.round,
        examples: result.examples,
        loss: m.trainLoss,
        ...(steps === null ? {} : { steps }),
      },
      `round ${round.round}: trained on ${result.examples} examples${steps === null ? '' : ` with DP-SGD (${steps} steps)`}, loss ${Number.isFinite(m.trainLoss) ? m.trainLoss.toFixed(4) : '– (no example sampled in the last epoch)'}`,
    )
    return result
  }

  /**
   * A secure round: the driver advertises at once (the key exchange overlaps local training) and
   * answers each relayed stage; the masked input waits for training. A refusal is printed and the
   * participant falls silent for the round, which the coordinator handles as a dropout.
   */
  #onSecureRound(task: TaskInfo, round: ReturnType<typeof parseRoundStart>): void {
    const data = this.#data
    let random: RandomSource | undefined
    if (this.#budget !== null) {
      const source = this.#privateRound(this.#budget, round)
      if (source === null) return
      random = source
    }
    // Set once the round is taken, before any relay can ask for the masked input.
    let result: Promise<LocalResult> | undefined
    const taking = this.#secure.start(task, round, async (fixedPoint) => {
      const r = await (result as Promise<LocalResult>)
      try {
        return this.#maskedInput(task, round.round, r, fixedPoint, random)
      } catch (error) {
        const failure = new ParticipantError(
          `round ${round.round}: nothing was sent: ${(error as Error).message}`,
        )
        this.#fail(failure)
        throw failure
      }
    })
    if (!taking) return
    this.#started(round, true)
    result = data
      ? data.then((d) => this.#train(task, d, round, random))
      : Promise.reject(new ParticipantError('no data'))
    result.catch((error: Error) => this.#fail(error))
  }

  /**
   * Under privacy, before a round is taken: whether it stays within the budget (else this
   * participant leaves the run), and the cryptographic source its noise draws from (else the round
   * fails here, untrained). The source, or null when the round is not taken.
   */
  #privateRound(budget: PrivacyBudget, round: ReturnType<typeof parseRoundStart>): RandomSource | null {
    try {
      const decision = checkRound(
        budget,
        { epochs: round.training.epochs, scale: round.secagg?.fixedPoint.scale ?? 0 },
        `round ${round.round}`,
      )
      if (decision?.train) return cryptoRandom()
      if (decision) this.#leave(decision)
    } catch (error) {
      this.#fail(
        new ParticipantError(`round ${round.round}: cannot take part privately: ${(error as Error).message}`),
      )
    }
    return null
  }

  /**
   * The vector this round masks. Under privacy the round is kept in the ledger first (fsynced: a
   * crash from here on can only over-count), then it is encoded without counts (and noised, unit
   * "participant"), then ε spent is said; a ledger that cannot be written sends nothing.
   */
  #maskedInput(
    task: TaskInfo,
    round: number,
    r: LocalResult,
    fixedPoint: FixedPoint,
    random: RandomSource | undefined,
  ): Uint32Array {
    const budget = this.#budget
    let input: Uint32Array
    if (budget === null || random === undefined)
      input = encodeRoundContribution(secureContribution(r), task.privacy, fixedPoint)
    else {
      const released = releaseRound(budget, round, r, fixedPoint, random)
      input = released.input
      const { epsilon, privacy, spent } = released.budget
      this.#budget = released.budget
      this.#opts.log.info(
        'privacy-spent',
        { round, epsilon, target: privacy.epsilon, delta: privacy.delta, rounds: spent.length },
        `round ${round}: ${spentLine(epsilon, privacy)}`,
      )
    }
    if (this.#opts.auditDir) writeAudit(this.#opts.auditDir, round, r, input)
    return input
  }

  #reportSecure(report: SecureRoundReport): void {
    const log = this.#opts.log
    if (report.type === 'notice') log.info('secagg-notice', {}, report.message)
    else if (report.type === 'declined')
      log.warn(
        'declined',
        { round: report.round },
        `round ${report.round}: cannot take part securely: ${report.message}`,
      )
    else if (report.type === 'refused')
      log.warn(
        'secagg-refused',
        { round: report.round, stage: report.stage ?? undefined },
        `round ${report.round}: refused the coordinator's ${report.stage ?? 'secagg'} message: ${report.message}`,
      )
    else if (report.type === 'complained')
      log.warn(
        'complained',
        { round: report.round, stage: report.stage ?? undefined },
        `round ${report.round}: a neighbour's keys or shares in the coordinator's ${report.stage ?? 'secagg'} relay could not be used; sent a signed complaint and left the round`,
      )
  }

  #emitSecagg(round: number, message: SecaggAnswer): void {
    this.#socket.timeout(60_000).emit('secagg', message, this.#reportAck(round, 'our secagg message'))
    if (message.stage === 'masked-input') this.#sent(round)
  }

  /** This round's contribution went out (counted synchronously by the engine's packetCreate). */
  #sent(round: number): void {
    const tally = this.#rounds.get(round)
    if (!tally || !this.#socket.connected) return
    tally.sent = true
    this.#opts.log.info(
      'sent',
      { round, bytes: tally.bytes },
      `round ${round}: sent ${tally.secure ? 'the masked update' : 'the update'} (${tally.bytes} bytes so far this round)`,
    )
  }

  /** What to print when the coordinator answers (or does not answer) one of our messages. */
  #reportAck(round: number, what: string): (err: Error | null, raw: unknown) => void {
    return (err, raw) => {
      const log = this.#opts.log
      if (err)
        return log.warn(
          'not-acknowledged',
          { round },
          `round ${round}: ${what} was not acknowledged (${err.message})`,
        )
      try {
        const ack = parseUpdateAck(raw)
        if (!ack.ok)
          log.warn(
            'update-refused',
            { round, code: ack.code },
            `round ${round}: the coordinator refused ${what}: ${ack.reason} (${ack.code})`,
          )
      } catch (error) {
        log.warn(
          'malformed',
          { round, what: 'ack' },
          `round ${round}: malformed acknowledgement: ${(error as Error).message}`,
        )
      }
    }
  }

  #send(round: number, result: LocalResult): void {
    if (!this.#joined) return // the coordinator resends the round after our next hello
    const update: WireUpdate = {
      round,
      delta: encodeWeights(result.delta),
      examples: result.examples,
      labelCounts: result.labelCounts,
      metrics: {
        trainLoss: result.metrics.trainLoss,
        evaluation: flattenEvaluationCounts(result.metrics.evaluation),
      },
    }
    this.#socket.timeout(60_000).emit('update', update, this.#reportAck(round, 'our update'))
    this.#sent(round)
  }

  #finish(end: ParticipantEnd): void {
    this.#closed = true
    clearTimeout(this.#retryTimer)
    this.#socket.disconnect()
    this.#resolve(end)
  }

  #fail(error: Error): void {
    this.#closed = true
    clearTimeout(this.#retryTimer)
    this.#socket.disconnect()
    this.#reject(error)
  }
}

/** The task's privacy as flat log fields ({ unit: null } without). */
function privacyFields(privacy: PrivacySettings | null): LogFields {
  if (privacy === null) return { unit: null }
  const { unit, epsilon, delta, clipNorm, noiseMultiplier, rounds } = privacy
  const common = { unit, epsilon, delta, clipNorm, noiseMultiplier, rounds }
  return privacy.unit === 'example'
    ? { ...common, samplingRate: privacy.samplingRate, stepsPerRound: privacy.stepsPerRound }
    : { ...common, minParticipants: privacy.minParticipants }
}

/**
 * The hospital's own record of what it contributed to a round: round-NNNN.json (examples, label
 * counts, the training loss and the received head's evaluation counts), round-NNNN.delta.f32 (Δ as trained) and round-NNNN.input.u32 (the
 * clipped, fixed-point vector that was masked). It never leaves this machine; it lets a hospital
 * audit its contributions, and the end-to-end test check the coordinator's sum against them.
 */
function writeAudit(dir: string, round: number, result: LocalResult, input: Uint32Array): void {
  mkdirSync(dir, { recursive: true })
  const base = join(dir, `round-${String(round).padStart(4, '0')}`)
  const { delta, examples, labelCounts, metrics } = result
  writeFileSync(`${base}.json`, `${JSON.stringify({ round, examples, labelCounts, metrics })}\n`)
  writeFileSync(`${base}.delta.f32`, new Uint8Array(delta.buffer, delta.byteOffset, delta.byteLength))
  writeFileSync(`${base}.input.u32`, new Uint8Array(input.buffer, input.byteOffset, input.byteLength))
}
