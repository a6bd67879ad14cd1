import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  type ConnectionLimits,
  DEFAULT_WEB_DIR,
  DEFAULT_CONNECTION_LIMITS as LIMITS,
  MAX_TURN_MS,
  DEFAULT_READ_PACING as PACING,
  RunFolderError,
  readTaskFile,
  TaskFileError,
  TlsPairError,
} from '@fedtune/coordinator'
import { type HostOptions, startCoordinator, startHost } from '@fedtune/coordinator/start'
import { StoreError } from '@fedtune/coordinator/store'
import { initBackend } from '@fedtune/model/node'
import { CommandError, type CommandIo, processIo } from './command-io.ts'
import { metricsAddress, metricsTokenFrom } from './metrics-flags.ts'
import { portNumber, positiveInteger, positiveSeconds, wholeNumber } from './numbers.ts'
import { reloadOnHangup, type TlsFiles, tlsFilesOf, tlsOf, trustedProxies } from './tls-flags.ts'

const USAGE = `Usage: fedtune coordinator [--task <task.json>] [options]

Serves federations, one per task: hands each task's participants the frozen backbone and the head,
runs the rounds through secure aggregation (SecAgg+: it learns only the sum of the masked
updates), averages the sum with FedAvg weighted by example count (or FedAdam, per the task file),
evaluates the global head on the task's validation and test sets after every round and keeps the
best round by validation (stopping early with the task's patience). Everything it knows
is in its database; restarted, it carries every unfinished run on by itself.

With --task it submits that task file and starts its run at once, and exits when no run is left
(every run it serves has ended). Without it, it serves the tasks operators submit (fedtune task
submit, fedtune start) until it is stopped (SIGINT or SIGTERM). The port opens at once; a run
whose backbone or validation and test sets are still being prepared answers its participants "not ready".

Options:
  --task <file>     a task file (JSON; see docs/task-file.md) to serve at once
  --port <n>        port for HTTP and socket.io; 0 picks a free one          (default 8080)
  --host <addr>     address to listen on; 0.0.0.0 for every interface        (default 127.0.0.1)
  --data <dir>      the database and the run folders                        (default .fedtune)
  --database <db>   the database: a folder (embedded PostgreSQL, PGlite) or a server's
                    postgres://user:password@host/db                   (default <data>/db)
  --out <dir>       the run's folder: the head after every round, and a readable copy of
                    its rounds (rounds.jsonl, rounds.svg)  (default <data>/runs/<task>-<run>)
  --cache <dir>     downloaded backbones and cached embeddings               (default .fedtune/cache)
  --new-run         stop the task's unfinished run that has other settings, and start a new
                    one (without it, that is refused). Restarted, the coordinator carries on
                    the task's unfinished run by itself from its last kept round;
                    participants reconnect by themselves
  --web <dir>       the browser participants' page (client-web's build, \`npm run build:web\`),
                    served at /join; browsers take part only in a task whose file turns
                    participation.browsers on
                                            (default ${DEFAULT_WEB_DIR})

TLS and proxies (docs/tls-and-proxies.md):
  --tls-cert <pem>  serve HTTPS and WSS with this certificate (its chain after it)...
  --tls-key <pem>   ...and its unencrypted private key; both or neither. Checked at
                    start; SIGHUP reads both again (a renewed certificate, no restart)
  --trust-proxy <addr,...>  believe X-Forwarded-For/-Proto/-Host from these addresses or
                    CIDRs (a reverse proxy terminating TLS in front, e.g. 127.0.0.1);
                    the audit log's addresses and the limits per address follow it

Metrics (Prometheus; docs/metrics.md). Without either, GET /metrics answers 404:
  --metrics-token-file <file>     serve GET /metrics on the main port to requests with
                                  "Authorization: Bearer <token>", the file's text (at least
                                  16 characters)
  --metrics-address <host:port>   serve only /metrics, without a token, on a port of its own;
                                  bind it where only Prometheus reaches (127.0.0.1:9464)

Connection limits (what one connection may cost; docs/protocol.md, "Limits"):
  --hello-timeout <s>               close a connection without a hello after this long
                                                                   (default ${LIMITS.helloTimeoutMs / 1000})
  --max-connections-per-address <n> open connections from one IP address  (default ${LIMITS.maxConnectionsPerAddress})
  --events-per-second <n>           events per second per connection...    (default ${LIMITS.eventsPerSecond})
  --event-burst <n>                 ...in bursts of at most                (default ${LIMITS.eventBurst})
  --max-unknown-events <n>          unknown events (or any before hello) before the
                                    connection is closed                  (default ${LIMITS.maxUnknownEvents})
  --read-pacing <ms>                while ${PACING.busyPerSecond} or more participants' messages arrive a
                                    second, make each event-loop turn last at least this
                                    long, so one wake-up reads many: less CPU for up to
                                    this much latency; 0 turns it off (README, "Load")
                                                                   (default ${PACING.turnMs})
  -h, --help        this text

Example:
  fedtune coordinator --task .fedtune/demo/task.json --port 8080
`

/** Each limit's flag, its key in ConnectionLimits, and how the flag's text is read into the key's unit. */
const LIMIT_FLAGS = {
  'hello-timeout': ['helloTimeoutMs', positiveSeconds],
  'max-connections-per-address': ['maxConnectionsPerAddress', positiveInteger],
  'events-per-second': ['eventsPerSecond', positiveInteger],
  'event-burst': ['eventBurst', positiveInteger],
  'max-unknown-events': ['maxUnknownEvents', positiveInteger],
} as const satisfies Record<
  string,
  readonly [keyof ConnectionLimits, (option: string, text: string) => number]
>

/** What `fedtune coordinator` was asked for, its command line read and checked. */
export type CoordinatorCommand = {
  /** The task file to submit and serve at once; without it, the tasks operators submit. */
  readonly taskFile?: string
  readonly host: HostOptions
  readonly outDir?: string
  readonly newRun: boolean
  /** --tls-cert and --tls-key, read again on SIGHUP. */
  readonly tlsFiles?: TlsFiles
}

/** `fedtune coordinator`: serves until its runs end (with --task) or until SIGINT or SIGTERM. */
export async function runCoordinatorCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  let values: ReturnType<typeof parse>['values']
  try {
    values = parse(argv).values
  } catch (error) {
    io.stderr(`fedtune coordinator: ${(error as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (values.help) {
    io.stdout(USAGE)
    return 0
  }
  let command: CoordinatorCommand
  try {
    command = coordinatorCommand(values)
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    io.stderr(`fedtune coordinator: ${error.message}\n`)
    return 2
  }
  return serve(command, io)
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      task: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      out: { type: 'string' },
      cache: { type: 'string' },
      data: { type: 'string' },
      database: { type: 'string' },
      'new-run': { type: 'boolean' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'trust-proxy': { type: 'string' },
      web: { type: 'string' },
      'metrics-token-file': { type: 'string' },
      'metrics-address': { type: 'string' },
      'hello-timeout': { type: 'string' },
      'max-connections-per-address': { type: 'string' },
      'events-per-second': { type: 'string' },
      'event-burst': { type: 'string' },
      'max-unknown-events': { type: 'string' },
      'read-pacing': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}

function coordinatorCommand(values: ReturnType<typeof parse>['values']): CoordinatorCommand {
  const port = values.port === undefined ? 8080 : portNumber('--port', values.port)
  const limits: Partial<Record<keyof ConnectionLimits, number>> = {}
  for (const [flag, [key, read]] of Object.entries(LIMIT_FLAGS)) {
    const text = values[flag as keyof typeof LIMIT_FLAGS]
    if (text !== undefined) limits[key] = read(`--${flag}`, text)
  }
  const { database } = values
  const tokenFile = values['metrics-token-file']
  const address = values['metrics-address']
  const metrics = {
    ...(tokenFile === undefined ? {} : { token: metricsTokenFrom('--metrics-token-file', tokenFile) }),
    ...(address === undefined ? {} : { address: metricsAddress('--metrics-address', address) }),
  }
  const tlsFiles = tlsFilesOf(values['tls-cert'], values['tls-key'])
  const trustProxy = values['trust-proxy']
  return {
    ...(values.task === undefined ? {} : { taskFile: values.task }),
    ...(tlsFiles === undefined ? {} : { tlsFiles }),
    host: {
      ...(trustProxy === undefined ? {} : { trustProxy: trustedProxies(trustProxy) }),
      port,
      host: values.host ?? '127.0.0.1',
      dataDir: resolve(values.data ?? '.fedtune'),
      ...(database === undefined
        ? {}
        : { database: /^postgres(ql)?:/.test(database) ? database : resolve(database) }),
      cacheDir: resolve(values.cache ?? '.fedtune/cache'),
      webDir: resolve(values.web ?? DEFAULT_WEB_DIR),
      limits,
      ...(values['read-pacing'] === undefined
        ? {}
        : {
            pacing: {
              turnMs: wholeNumber(
                '--read-pacing',
                values['read-pacing'],
                MAX_TURN_MS,
                `milliseconds from 0 (off) to ${MAX_TURN_MS}`,
              ),
            },
          }),
      metrics,
    },
    ...(values.out === undefined ? {} : { outDir: resolve(values.out) }),
    newRun: values['new-run'] ?? false,
  }
}

/**
 * Serves `command`. With a task file: exit 0 once its run has ended with a round aggregated and no
 * other run is left, 1 if none was. Without one: serves until SIGINT or SIGTERM, then exit 0.
 */
async function serve(command: CoordinatorCommand, io: CommandIo): Promise<number> {
  let stopReloading = () => {}
  try {
    const tls = tlsOf(command.tlsFiles, io)
    const host = {
      ...command.host,
      ...(tls === undefined ? {} : { tls }),
      print: (line: string) => io.stdout(`${line}\n`),
    }
    const task = command.taskFile === undefined ? undefined : await readTaskFile(command.taskFile)
    const backend = await initBackend()
    io.stdout(`tensorflow backend: ${backend.backend} (${backend.detail})\n`)
    if (task === undefined) {
      const running = await startHost(host)
      stopReloading = reloadOnHangup(command.tlsFiles, running.app.server, io)
      io.stdout(`database: ${running.store.where}\n`)
      await new Promise<void>((resolveStop) => {
        process.once('SIGINT', resolveStop)
        process.once('SIGTERM', resolveStop)
      })
      await running.close()
      return 0
    }
    const running = await startCoordinator({
      ...host,
      task,
      ...(command.outDir === undefined ? {} : { outDir: command.outDir }),
      newRun: command.newRun,
    })
    stopReloading = reloadOnHangup(command.tlsFiles, running.app.server, io)
    io.stdout(
      `run ${running.run.id} of task ${task.name}, kept in ${running.store.where}; its folder ${running.outDir}. Restarted, the coordinator carries it on by itself\n`,
    )
    const stop = () => void running.close()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    const summary = await running.federation.done
    // other tasks an operator started meanwhile keep the coordinator up until they end too
    await running.host.whenIdle()
    await running.close()
    return summary.completed > 0 ? 0 : 1
  } catch (error) {
    const prefix =
      error instanceof TaskFileError ||
      error instanceof RunFolderError ||
      error instanceof StoreError ||
      error instanceof TlsPairError
        ? ''
        : 'error: '
    io.stderr(`fedtune coordinator: ${prefix}${(error as Error).message}\n`)
    return 1
  } finally {
    stopReloading()
  }
}
