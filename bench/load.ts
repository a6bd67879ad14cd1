import { type ChildProcess, execFileSync, fork } from 'node:child_process'
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { DEFAULT_READ_PACING } from '@fedtune/coordinator'
import type { FloorSummary } from './load-floor.ts'
import type {
  CoordinatorConfig,
  CoordinatorReport,
  ParticipantsConfig,
  ParticipantsReport,
  RoundReport,
} from './load-messages.ts'
import { markdownTable } from './markdown-table.ts'
import { median } from './stats.ts'

const USAGE = `Usage: npm run bench:load -- [options]

The coordinator under load, measured in its own process: the real coordinator (startCoordinator)
in one process, and participants in several others, each with its own socket.io websocket on
loopback, its own Ed25519 identity, the real hello and the real SecaggParticipant on node:crypto
(training replaced by a fixed contribution). Secure rounds of d = 12,810 (a 1280 → 10 head), k = 41,
t = 21, at n ∈ {100, 1000} × dropout ∈ {0, 10 %}; dropouts share their keys, then close their
connection (and come back after the round). Then n = 5,000 enrolled, idle connections.

The participants share the machine's cores with the coordinator, so wall time per round is theirs
and its together; the coordinator's CPU time, per round and per stage, its event-loop delay and its
RSS are its own. Writes bench/out/load.md.

Options:
  --only <text>        run only the configurations whose label contains this text ("n=1000", "idle")
  --rounds <n>         rounds per configuration; the first is a warm-up and not counted  (default 3)
  --idle <n>           idle connections to hold                                        (default 5000)
  --procs <n>          participant processes                                              (default 4)
  --concurrency <n>    handshakes in flight per participant process                       (default 25)
  --quick              n = 100 only, 2 rounds, 1,000 idle
  --cpu-prof           profile the coordinator (node --cpu-prof) into bench/out/profiles/
  --node-arg <flag>    a Node flag for the coordinator's process, repeatable: --node-arg=--trace-gc, or
                       --node-arg=--perf-basic-prof to name its JavaScript frames for Linux perf
  --read-pacing <ms>   the coordinator's read pacing (fedtune coordinator --read-pacing; 0: off)
                                                                        (default: the coordinator's)
  --pin                the coordinator on core 0, the participants on the others (Linux taskset): it
                       then shares no core with them, as on a real deployment, and its CPU time is
                       steadier from run to run (the participants' wall time is longer; no floor)
  --skip-floor         after n = 1000 at 10 %, do not measure the floor: bare socket.io carrying the
                       same round's messages (bench:load-floor, spread over 2 s, paced as the
                       coordinator is), so the coordinator's CPU can be read against it
  -h, --help
`

const COORDINATOR = fileURLToPath(new URL('./load-coordinator.ts', import.meta.url))
const PARTICIPANTS = fileURLToPath(new URL('./load-participants.ts', import.meta.url))
const FLOOR = fileURLToPath(new URL('./load-floor.ts', import.meta.url))
/** The floor's clients spread each message over this many ms, as the participants' crypto does. */
const FLOOR_SPREAD_MS = 2000
/** The floor's rounds, its first a warm-up: it is cheap, so one more than bench:load's default. */
const FLOOR_ROUNDS = 4
const FLOOR_MS = 300_000
const OUT = fileURLToPath(new URL('./out/', import.meta.url))
/** Every wait is bounded: joining, each round, the whole run of one configuration. */
const JOIN_MS = 180_000
const ROUND_MS = 180_000
const STOP_MS = 10_000

type Config = { readonly label: string; readonly n: number; readonly dropout: number; readonly idle: boolean }

type RoundsResult = {
  readonly config: Config
  readonly joinMs: number
  readonly rounds: readonly RoundReport[]
  readonly problems: readonly string[]
}

type IdleResult = {
  readonly config: Config
  readonly joinMs: number
  readonly before: { rssBytes: number; heapUsedBytes: number }
  readonly after: { rssBytes: number; heapUsedBytes: number; online: number; sockets: number }
  readonly problems: readonly string[]
}

/** A child process whose IPC messages can be awaited, each wait bounded. */
class Child<M> {
  readonly process: ChildProcess
  readonly #queue: M[] = []
  #wake: (() => void) | undefined
  #exited: string | undefined

  constructor(file: string, arg: unknown, execArgv: readonly string[], stdout: number | 'inherit') {
    this.process = fork(file, [JSON.stringify(arg)], {
      execArgv: [...process.execArgv, ...execArgv],
      stdio: ['ignore', stdout, 'inherit', 'ipc'],
    })
    this.process.on('message', (m) => {
      this.#queue.push(m as M)
      this.#wake?.()
    })
    this.process.on('exit', (code, signal) => {
      this.#exited = `exited (${signal ?? code})`
      this.#wake?.()
    })
  }

  /** The next message `accept` takes (others seen on the way go to `aside`), within `ms`. */
  async next<T extends M>(
    accept: (m: M) => m is T,
    ms: number,
    what: string,
    aside?: (m: M) => void,
  ): Promise<T> {
    const deadline = performance.now() + ms
    for (;;) {
      while (this.#queue.length > 0) {
        const m = this.#queue.shift() as M
        if (accept(m)) return m
        aside?.(m)
      }
      if (this.#exited) throw new Error(`${what}: the child ${this.#exited}`)
      const left = deadline - performance.now()
      if (left <= 0) throw new Error(`${what}: nothing within ${Math.round(ms / 1000)} s`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.#wake = undefined
    }
  }

  /** Hands every message not yet taken to `aside`. */
  drain(aside: (m: M) => void): void {
    for (const m of this.#queue.splice(0)) aside(m)
  }

  send(message: unknown): void {
    if (!this.#exited) this.process.send(message as object)
  }

  /** Asks it to stop, then kills it (by its own pid) if it has not exited within STOP_MS. */
  async stop(): Promise<void> {
    if (this.#exited) return
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()))
    this.send({ type: 'stop' })
    const timer = setTimeout(() => this.process.kill('SIGKILL'), STOP_MS)
    await exited
    clearTimeout(timer)
  }
}

const is =
  <T extends string>(type: T) =>
  <M extends { type: string }>(m: M): m is Extract<M, { type: T }> =>
    m.type === type

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      idle: { type: 'string', default: '5000' },
      procs: { type: 'string', default: '4' },
      concurrency: { type: 'string', default: '25' },
      quick: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'node-arg': { type: 'string', multiple: true, default: [] },
      pin: { type: 'boolean', default: false },
      'skip-floor': { type: 'boolean', default: false },
      'read-pacing': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const int = (name: string, raw: string, min: number) => {
    const v = Number(raw)
    if (!Number.isInteger(v) || v < min)
      throw new Error(`--${name}: expected an integer ≥ ${min}, got ${raw}`)
    return v
  }
  const rounds = values.quick ? 2 : int('rounds', values.rounds, 2)
  const idle = values.quick ? 1000 : int('idle', values.idle, 1)
  const procs = int('procs', values.procs, 1)
  const concurrency = int('concurrency', values.concurrency, 1)
  const pacingText = values['read-pacing']
  const readPacingMs = pacingText === undefined ? undefined : int('read-pacing', pacingText, 0)
  if (values.pin && cpus().length < 2)
    throw new Error(`--pin: expected 2 or more cores, one for the coordinator, got ${cpus().length}`)

  const all: Config[] = [
    ...(values.quick ? [100] : [100, 1000]).flatMap((n) =>
      [0, 0.1].map((dropout) => ({ label: `n=${n} drop=${dropout * 100}%`, n, dropout, idle: false })),
    ),
    { label: `idle n=${idle}`, n: idle, dropout: 0, idle: true },
  ]
  const only = values.only
  const configs = only === undefined ? all : all.filter((c) => c.label.includes(only))
  if (configs.length === 0) throw new Error(`--only: no configuration's label contains "${only}"`)

  mkdirSync(OUT, { recursive: true })
  const profile = [
    ...(values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${OUT}profiles`] : []),
    ...values['node-arg'],
  ]
  const started = performance.now()
  const results: RoundsResult[] = []
  let idleResult: IdleResult | undefined
  let floor: Floor | undefined
  const failures: string[] = []
  for (const config of configs) {
    const run = { config, rounds, procs, concurrency, profile, pin: values.pin, readPacingMs }
    try {
      if (config.idle) {
        idleResult = await measureIdle(run)
        process.stderr.write(`${config.label}: ${idleSummary(idleResult)}\n`)
      } else {
        const result = await measureRounds(run)
        results.push(result)
        process.stderr.write(`${config.label}: ${roundsSummary(result)}\n`)
        if (isTarget(config) && !values['skip-floor'] && !values.pin) {
          try {
            floor = await measureFloor(config.n, readPacingMs ?? DEFAULT_READ_PACING.turnMs)
            process.stderr.write(`  the floor: socket.io alone, CPU ${ms(floor.cpuMs)} a round\n`)
          } catch (error) {
            // Its row stands; only the comparison is missing, and said.
            process.stderr.write(`the floor: ${(error as Error).message}\n`)
            failures.push(`the floor (bench:load-floor): ${(error as Error).message}`)
          }
        }
      }
    } catch (error) {
      // A configuration that does not finish is reported as such, and the others still run.
      process.stderr.write(`${config.label}: ${(error as Error).message}\n`)
      failures.push(`${config.label}: ${(error as Error).message}`)
    }
  }
  const minutes = ((performance.now() - started) / 60000).toFixed(1)
  const report = render(results, idleResult, floor, failures, {
    rounds,
    procs,
    minutes,
    argv: process.argv.slice(2),
  })
  writeFileSync(`${OUT}load.md`, report)
  process.stdout.write(`${report}\nwritten to bench/out/load.md\n`)
  return 0
}

type Run = {
  readonly config: Config
  readonly rounds: number
  readonly procs: number
  readonly concurrency: number
  readonly profile: readonly string[]
  readonly pin: boolean
  readonly readPacingMs: number | undefined
}

/**
 * Pins a process, and every thread it starts later, to `cores` (taskset's list: "0", "1-3"), when
 * asked (--pin): the coordinator alone on core 0, the participants on the rest.
 */
function pinTo(child: { readonly process: ChildProcess }, cores: string, pin: boolean): void {
  if (!pin) return
  const pid = child.process.pid
  if (pid === undefined) throw new Error('--pin: a child process has no pid')
  try {
    execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', cores, String(pid)], { stdio: 'ignore' })
  } catch (error) {
    throw new Error(
      `--pin: expected taskset (util-linux) to pin ${pid} to cores ${cores}: ${(error as Error).message}`,
    )
  }
}

/** The coordinator and its participant processes for one configuration; all stopped in `finally`. */
async function withProcesses<T>(
  run: Run,
  body: (
    coordinator: Child<CoordinatorReport>,
    participants: readonly Child<ParticipantsReport>[],
    joinMs: number,
    before: { rssBytes: number; heapUsedBytes: number },
    problems: string[],
  ) => Promise<T>,
): Promise<T> {
  const { config } = run
  const log = openSync(`${OUT}load-coordinator.log`, 'a')
  const coordinatorConfig: CoordinatorConfig = {
    n: config.n,
    dropout: config.dropout,
    rounds: config.idle ? 1 : run.rounds,
    idle: config.idle,
    ...(run.readPacingMs === undefined ? {} : { readPacingMs: run.readPacingMs }),
  }
  const coordinator = new Child<CoordinatorReport>(
    COORDINATOR,
    coordinatorConfig,
    ['--expose-gc', ...run.profile],
    log,
  )
  const participants: Child<ParticipantsReport>[] = []
  const problems: string[] = []
  const collect = (m: ParticipantsReport) => {
    if (m.type === 'problem' && problems.length < 20) problems.push(m.message)
    if (m.type === 'stopped' && m.problems > 0)
      problems.push(`a participant process saw ${m.problems} problems, ${m.refusals} of them refusals`)
  }
  try {
    const listening = await coordinator.next(is('listening'), 120_000, 'the coordinator to listen')
    pinTo(coordinator, '0', run.pin)
    const per = Math.ceil(config.n / run.procs)
    for (let from = 0; from < config.n; from += per) {
      const slice: ParticipantsConfig = {
        url: listening.url,
        from,
        count: Math.min(per, config.n - from),
        dropout: config.dropout,
        concurrency: run.concurrency,
      }
      const child = new Child<ParticipantsReport>(PARTICIPANTS, slice, [], 'inherit')
      participants.push(child)
      pinTo(child, `1-${cpus().length - 1}`, run.pin)
    }
    const joinStarted = performance.now()
    for (const p of participants)
      await p.next(is('ready'), JOIN_MS, `${config.label}: participants to join`, collect)
    const joinMs = performance.now() - joinStarted
    return await body(coordinator, participants, joinMs, listening, problems)
  } finally {
    await Promise.all(participants.map((p) => p.stop()))
    for (const p of participants) p.drain(collect)
    await coordinator.stop()
    closeSync(log)
  }
}

async function measureRounds(run: Run): Promise<RoundsResult> {
  return withProcesses(run, async (coordinator, _participants, joinMs, _before, problems) => {
    const reports: RoundReport[] = []
    for (let r = 1; r <= run.rounds; r++) {
      let round: RoundReport
      try {
        ;({ round } = await coordinator.next(is('round'), ROUND_MS, `${run.config.label}: round ${r}`))
      } catch (error) {
        // The rounds measured so far still count; the one that did not end is said.
        problems.push((error as Error).message)
        break
      }
      reports.push(round)
      process.stderr.write(
        `  round ${round.round}: ${round.status}${round.reason ? ` (${round.reason})` : ''}, ${ms(round.wallMs)} wall, coordinator CPU ${ms(round.cpuMs)} (kernel ${ms(round.systemCpuMs)})\n`,
      )
    }
    return { config: run.config, joinMs, rounds: reports, problems }
  })
}

async function measureIdle(run: Run): Promise<IdleResult> {
  return withProcesses(run, async (coordinator, _participants, joinMs, before, problems) => {
    coordinator.send({ type: 'measure' })
    const after = await coordinator.next(is('memory'), 60_000, 'the coordinator to measure itself')
    return { config: run.config, joinMs, before, after, problems }
  })
}

type Floor = FloorSummary & { readonly n: number; readonly pacingMs: number }

/** bench:load-floor in its own processes, right after the row it is compared with. */
async function measureFloor(n: number, pacingMs: number): Promise<Floor> {
  const child = fork(
    FLOOR,
    [
      '--json',
      `--n=${n}`,
      `--rounds=${FLOOR_ROUNDS}`,
      `--spread=${FLOOR_SPREAD_MS}`,
      `--read-pacing=${pacingMs}`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
  )
  let out = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8')
  })
  let late = false
  // SIGTERM: bench:load-floor stops its own server and clients on it
  const timer = setTimeout(() => {
    late = true
    child.kill('SIGTERM')
  }, FLOOR_MS)
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  clearTimeout(timer)
  if (late) throw new Error(`not done within ${FLOOR_MS / 1000} s`)
  if (code !== 0) throw new Error(`exited with ${code}`)
  const summary = JSON.parse(out.trim().split('\n').at(-1) ?? '') as FloorSummary
  return { ...summary, n, pacingMs }
}

// ── report ──────────────────────────────────────────────────────────────────────────────────────

const STAGES = ['advertise', 'share-keys', 'masked-input', 'unmask'] as const

/** Medians over the counted rounds (all but the first, a warm-up) that aggregated. */
function counted(result: RoundsResult): RoundReport[] {
  return result.rounds.slice(1).filter((r) => r.status === 'aggregated')
}

function stageMedian(
  rounds: readonly RoundReport[],
  stage: string,
  key: 'cpuMs' | 'lastInToRelayMs',
): number {
  return median(
    rounds.flatMap((r) => {
      const v = r.stages.find((s) => s.stage === stage)?.[key]
      return v === undefined || v === null ? [] : [v]
    }),
  )
}

function roundsSummary(result: RoundsResult): string {
  const ok = counted(result)
  if (ok.length === 0) return `no counted round aggregated; ${result.problems[0] ?? ''}`
  return `${ok.length} rounds, coordinator CPU ${ms(median(ok.map((r) => r.cpuMs)))}, wall ${ms(median(ok.map((r) => r.wallMs)))}, loop delay p99 ${ms(median(ok.map((r) => r.loopDelayP99Ms)))}`
}

function idleSummary(r: IdleResult): string {
  return `${r.after.online} online, RSS ${mb(r.before.rssBytes)} → ${mb(r.after.rssBytes)}`
}

const isTarget = (c: Config) => c.n === 1000 && c.dropout === 0.1 && !c.idle

function render(
  results: readonly RoundsResult[],
  idle: IdleResult | undefined,
  floor: Floor | undefined,
  failures: readonly string[],
  meta: { rounds: number; procs: number; minutes: string; argv: readonly string[] },
): string {
  const rows = results.map((result) => {
    const { config } = result
    const ok = counted(result)
    const m = (f: (r: RoundReport) => number) => median(ok.map(f))
    if (ok.length === 0)
      return [
        `${config.n}`,
        pct(config.dropout),
        `0 of ${result.rounds.length - 1}`,
        'failed',
        '',
        '',
        '',
        '',
        '',
        '',
        '',
      ]
    return [
      `${config.n}`,
      pct(config.dropout),
      `${ok.length}`,
      `${m((r) => r.survivors)}`,
      ms(m((r) => r.wallMs)),
      `${ms(m((r) => r.cpuMs))} (${ms(m((r) => r.systemCpuMs))})`,
      [...STAGES.map((s) => ms(stageMedian(ok, s, 'cpuMs'))), ms(m((r) => r.resultCpuMs))].join(' / '),
      STAGES.map((s) => ms(stageMedian(ok, s, 'lastInToRelayMs'))).join(' / '),
      mb(m((r) => r.rssMaxBytes)),
      `${ms(m((r) => r.loopDelayP50Ms))} / ${ms(m((r) => r.loopDelayP99Ms))} (${ms(m((r) => r.loopDelayMaxMs))})`,
      `${(result.joinMs / 1000).toFixed(1)} s`,
    ]
  })
  const table = markdownTable(
    [
      'n',
      'dropout',
      'rounds',
      'survivors',
      'wall / round',
      'coordinator CPU / round (of it, kernel)',
      'CPU per stage: advertise / share-keys / masked-input / unmask / result',
      'last in → relay out: advertise / share-keys / masked-input / unmask',
      'RSS (peak)',
      'event-loop delay p50 / p99 (max)',
      `all n joined`,
    ],
    rows,
  )
  const idleLines = idle
    ? [
        markdownTable(
          [
            'idle participants',
            'online',
            'RSS before',
            'RSS held',
            'RSS per connection',
            'heap per connection',
            'all joined',
          ],
          [
            [
              `${idle.config.n}`,
              `${idle.after.online}`,
              mb(idle.before.rssBytes),
              mb(idle.after.rssBytes),
              // the process can give back an earlier phase's memory while they join: no figure then
              idle.after.rssBytes >= idle.before.rssBytes
                ? kb((idle.after.rssBytes - idle.before.rssBytes) / idle.config.n)
                : '– (RSS fell as they joined)',
              kb((idle.after.heapUsedBytes - idle.before.heapUsedBytes) / idle.config.n),
              `${(idle.joinMs / 1000).toFixed(1)} s`,
            ],
          ],
        ),
      ]
    : []
  const target = results.find((r) => isTarget(r.config))
  const targetOk = target ? counted(target) : []
  const cpu = median(targetOk.map((r) => r.cpuMs))
  const p99 = median(targetOk.map((r) => r.loopDelayP99Ms))
  const verdict = (ok: boolean) => (ok ? 'met' : 'missed')
  const targets = markdownTable(
    ['target', 'measured', ''],
    [
      ...(target && targetOk.length > 0
        ? [
            [
              'coordinator CPU per secure round ≤ 1.5 s (n = 1000, 10 % dropout)',
              ms(cpu),
              verdict(cpu <= 1500),
            ],
            ...(floor
              ? [
                  [
                    '(beside it, not a target) bare socket.io for the same messages: the floor',
                    `${ms(floor.cpuMs)}: the coordinator is ${(cpu / floor.cpuMs).toFixed(2)}× it`,
                    '',
                  ],
                ]
              : []),
            ['event-loop delay p99 ≤ 100 ms (same)', ms(p99), verdict(p99 <= 100)],
          ]
        : []),
      ...(idle && idle.config.n >= 5000
        ? [
            [
              `${idle.config.n} idle participants within 1.5 GB`,
              `${mb(idle.after.rssBytes)} RSS`,
              verdict(idle.after.rssBytes <= 1.5 * 2 ** 30 && idle.after.online === idle.config.n),
            ],
          ]
        : []),
    ],
  )
  const floorLines = floor
    ? [
        '### The floor',
        '',
        `Measured right after the n = ${floor.n}, 10 % row, in the same run: \`npm run bench:load-floor -- --n ${floor.n}`,
        `--spread ${FLOOR_SPREAD_MS} --read-pacing ${floor.pacingMs} --rounds ${FLOOR_ROUNDS}\`. A bare socket.io server (the packed parser, websocket`,
        'transport, the read pacing the coordinator had) and as many clients in 4 processes send the',
        "sizes of that secure round's messages: the start to everyone, then four stages in which each",
        'client sends a message, each acknowledged, and the server relays one to each when all have, every',
        `message spread over ${FLOOR_SPREAD_MS / 1000} s as the participants' crypto spreads theirs. Nothing is parsed, checked,`,
        `stored or summed. Server CPU a round: ${ms(floor.cpuMs)} (kernel ${ms(floor.systemMs)}); per stage ${floor.stagesMs.map(ms).join(' / ')};`,
        `each counted round ${floor.roundsMs.map(ms).join(', ')}.`,
        '',
      ]
    : []
  const problems = [...results.flatMap((r) => r.problems), ...(idle?.problems ?? [])]
  return [
    '## The coordinator under load (bench:load)',
    '',
    `${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${mb(totalmem())} RAM, Node ${process.version};`,
    `\`npm run bench:load${meta.argv.length > 0 ? ` -- ${meta.argv.join(' ')}` : ''}\`, ${meta.minutes} min.`,
    '',
    `One coordinator process (startCoordinator, the real one) and ${meta.procs} participant processes on loopback, one`,
    'socket.io websocket per participant, the real hello (Ed25519 proof) and SecaggParticipant on node:crypto,',
    'training replaced by a fixed contribution. d = 12,810 (1280 → 10, no hidden layer; 12,823 words with',
    'the example and label counts), k = 41, t = 21. Dropouts share their keys, then close their connection;',
    `they rejoin after the round. ${meta.rounds} rounds per row, the first a warm-up: medians of the others.`,
    'The participants share the two cores with the coordinator, so the wall time is theirs and its; the',
    "coordinator's CPU time (process.cpuUsage: its main thread, mask threads and I/O), event-loop delay",
    "(monitorEventLoopDelay, 5 ms resolution, over the round) and RSS are its own. In brackets, the kernel's",
    'part of its CPU (system time), mostly socket writes and reads: on loopback the kernel delivers each',
    "write to the participant's socket in the writer's time, work a network would put on the receiver.",
    'CPU per stage runs from',
    'the previous stage\'s relay to this one\'s; "result" is after the unmasked sum: decoding, the server',
    'step, writing the head and round log, sending the result. "last in → relay out": from the stage\'s',
    "last accepted message to the next stage's messages handed to the sockets (unmask: to the unmasked sum).",
    '',
    ...(results.length > 0 ? [table, ''] : []),
    ...idleLines,
    '',
    '### Targets',
    '',
    targets,
    '',
    ...floorLines,
    ...(failures.length > 0
      ? ['### Configurations that did not finish', '', ...failures.map((f) => `- ${f}`), '']
      : []),
    ...(problems.length > 0 ? ['### Problems seen', '', ...problems.map((p) => `- ${p}`), ''] : []),
  ].join('\n')
}

const ms = (v: number) => (Number.isNaN(v) ? '–' : v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`)
const mb = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MB`
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`
const pct = (x: number) => `${Math.round(x * 100)} %`

process.exitCode = await main()
