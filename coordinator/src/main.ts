import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { initBackend } from '@fedtune/model/node'
import { DEFAULT_WEB_DIR } from './http/web-page.ts'
import { type ConnectionLimits, DEFAULT_CONNECTION_LIMITS as LIMITS } from './sockets/connection-limits.ts'
import { startCoordinator, startHost } from './start.ts'
import { StoreError } from './store/index.ts'
import { RunFolderError } from './store/run-folder.ts'
import { readTaskFile, TaskFileError } from './tasks/task-file.ts'

const USAGE = `Usage: fedtune coordinator [--task <task.json>] [options]

Serves federations, one per task: hands each task's participants the frozen backbone and the head,
runs the rounds through secure aggregation (SecAgg+: it learns only the sum of the masked
updates), averages the sum with FedAvg weighted by example count (or FedAdam, per the task file),
and evaluates the global head on the task's held-out set after every round. Everything it knows
is in its database; restarted, it carries every unfinished run on by itself.

With --task it submits that task file and starts its run at once, and exits when no run is left
(every run it serves has ended). Without it, it serves the tasks operators submit (fedtune task
submit, fedtune start) until it is stopped (SIGINT or SIGTERM). The port opens at once; a run
whose backbone or held-out set is still being prepared answers its participants "not ready".

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

Connection limits (what one connection may cost; docs/protocol.md, "Limits"):
  --hello-timeout <s>               close a connection without a hello after this long
                                                                   (default ${LIMITS.helloTimeoutMs / 1000})
  --max-connections-per-address <n> open connections from one IP address  (default ${LIMITS.maxConnectionsPerAddress})
  --events-per-second <n>           events per second per connection...    (default ${LIMITS.eventsPerSecond})
  --event-burst <n>                 ...in bursts of at most                (default ${LIMITS.eventBurst})
  --max-unknown-events <n>          unknown events (or any before hello) before the
                                    connection is closed                  (default ${LIMITS.maxUnknownEvents})
  -h, --help        this text

Example:
  fedtune coordinator --task .fedtune/demo/task.json --port 8080
`

/** Each limit's flag: its key in ConnectionLimits, and what one unit of the flag is in the key's unit. */
const LIMIT_FLAGS = {
  'hello-timeout': ['helloTimeoutMs', 1000],
  'max-connections-per-address': ['maxConnectionsPerAddress', 1],
  'events-per-second': ['eventsPerSecond', 1],
  'event-burst': ['eventBurst', 1],
  'max-unknown-events': ['maxUnknownEvents', 1],
} as const satisfies Record<string, readonly [keyof ConnectionLimits, number]>
type LimitFlag = keyof typeof LIMIT_FLAGS

export async function main(argv: string[]): Promise<number> {
  let values: {
    task?: string
    port?: string
    host?: string
    out?: string
    cache?: string
    data?: string
    database?: string
    'new-run'?: boolean
    web?: string
    help?: boolean
  } & Partial<Record<LimitFlag, string>>
  try {
    ;({ values } = parseArgs({
      args: argv,
      options: {
        task: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        out: { type: 'string' },
        cache: { type: 'string' },
        data: { type: 'string' },
        database: { type: 'string' },
        'new-run': { type: 'boolean' },
        web: { type: 'string' },
        ...Object.fromEntries(Object.keys(LIMIT_FLAGS).map((flag) => [flag, { type: 'string' } as const])),
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }))
  } catch (error) {
    process.stderr.write(`fedtune coordinator: ${(error as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const port = values.port === undefined ? 8080 : Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(
      `fedtune coordinator: --port: expected an integer from 0 to 65535, got "${values.port}"\n`,
    )
    return 2
  }
  const limits: Partial<Record<keyof ConnectionLimits, number>> = {}
  for (const [flag, [key, unit]] of Object.entries(LIMIT_FLAGS)) {
    const raw = values[flag as LimitFlag]
    if (raw === undefined) continue
    const value = Number(raw) * unit
    if (!/^\d+(\.\d+)?$/.test(raw) || !Number.isInteger(value) || value < 1) {
      process.stderr.write(
        `fedtune coordinator: --${flag}: expected a positive ${unit === 1 ? 'whole number' : 'number of seconds (to the millisecond)'}, got "${raw}"\n`,
      )
      return 2
    }
    limits[key] = value
  }
  try {
    const task = values.task === undefined ? undefined : await readTaskFile(values.task)
    const backend = await initBackend()
    process.stdout.write(`tensorflow backend: ${backend.backend} (${backend.detail})\n`)
    const database = values.database
    const common = {
      port,
      host: values.host ?? '127.0.0.1',
      dataDir: resolve(values.data ?? '.fedtune'),
      ...(database === undefined
        ? {}
        : { database: /^postgres(ql)?:/.test(database) ? database : resolve(database) }),
      cacheDir: resolve(values.cache ?? '.fedtune/cache'),
      webDir: resolve(values.web ?? DEFAULT_WEB_DIR),
      limits,
    }
    if (task === undefined) {
      const running = await startHost(common)
      process.stdout.write(`database: ${running.store.where}\n`)
      await new Promise<void>((resolveStop) => {
        process.once('SIGINT', resolveStop)
        process.once('SIGTERM', resolveStop)
      })
      await running.close()
      return 0
    }
    const running = await startCoordinator({
      ...common,
      task,
      ...(values.out === undefined ? {} : { outDir: resolve(values.out) }),
      newRun: values['new-run'] ?? false,
    })
    process.stdout.write(
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
      error instanceof TaskFileError || error instanceof RunFolderError || error instanceof StoreError
        ? ''
        : 'error: '
    process.stderr.write(`fedtune coordinator: ${prefix}${(error as Error).message}\n`)
    return 1
  }
}
