import { accessSync, constants, mkdirSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  type Connection,
  checkDataFolder,
  createLogger,
  defaultName,
  fetchTaskInfo,
  type LogFormat,
  loadOrCreateIdentity,
  Participant,
  ParticipantError,
  roundSizes,
  SKIPPED_SHOWN,
} from '@fedtune/client-node'
import { DataFolderError, initBackend, shownProblems } from '@fedtune/model/node'
import {
  escapeText,
  INVITE_CODE,
  keyFingerprint,
  privacyStatement,
  TASK_NAME,
  type TaskInfo,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { mergeOptions, type OptionValues, readConfigFile } from './client-config.ts'
import { CLIENT_OPTIONS } from './client-options.ts'
import { CommandError, type CommandIo, processIo } from './command-io.ts'
import { connectionOf } from './network-flags.ts'
import { fraction } from './numbers.ts'

const USAGE = `Usage: fedtune client --coordinator <url> --data <folder> [options]
       fedtune client --config <file> [options]
       fedtune client --check [options]
       fedtune client history [--config <file>] [--cache <folder>] [--name <name>] [--task <name>] [--format json]
       (also installed as fedtune-client)

Takes part in a federation as a hospital: downloads the frozen backbone from the coordinator once
(verified by SHA-256), embeds the images in <folder> with it (cached), trains the head locally every
round and sends back only its head update, masked by secure aggregation (SecAgg+) so that the
coordinator learns the sum over hospitals and never this hospital's update, example count or label
mix. Images and embeddings never leave this machine. The identity key that signs its secure-round
keys is created on first run in <cache>/identity/<name>.ed25519; keep it.

<folder> holds one subfolder per class, named as the task's labels, with PNG or JPEG images
(grayscale or RGB, any size), e.g.  xrays/normal/*.png  xrays/pneumonia/*.jpg
Folders inside a class folder are read too, and every file in them (hidden ones aside).

An export not sorted by class is labelled by a labels file (--labels): CSV, UTF-8, with a header
row naming a "path" (or "file") column and a "label" (or "class") column, in any order and any
case; other columns (patient ids, dates) are ignored. Each row names one file by its path
relative to <folder> ("/" or "\\" between folders; quoted if it holds a comma) and its label,
one of the task's labels. For example
  path,label,patient
  P001/study1/IM0001.dcm,normal,P001
  "P002/study 1, follow-up/IM0001.dcm",pneumonia,P002
Files in <folder> that it does not list are left out (the count is printed). A missing file, an
unknown label, a path listed twice or leading outside <folder> (absolute, "..", a symbolic
link) is refused, every such row at once with its line number.

Options:
  --config <file>       every option below in a JSON file, keys the long option names, e.g.
                        {"coordinator": "https://coordinator.example", "data": "/srv/xrays",
                         "cache": "/var/lib/fedtune", "name": "hospital-1", "log-format": "json"};
                        relative paths are relative to the file's folder; the command line
                        overrides the file. The enrolment code never goes in it: use
                        FEDTUNE_INVITE or "invite-file" (docs/hospital-client.md)
  --check               check the data folder (decodes every image), the cache folder and the
                        coordinator (its task, over HTTP), print what would be sent each round
                        (sizes, never content) and exit without joining: 0 when all is well
  --log-format <f>      text (default: lines for people) or json (one JSON object per line:
                        time, level, event, round, …, message; no progress bars), for a
                        hospital's log collector
  --coordinator <url>   the coordinator, e.g. http://coordinator.example:8080       (required)
  --data <folder>       the image folder                                            (required)
  --labels <file>       a labels file (CSV: path, label) for the files in <folder>, instead
                        of one subfolder per class
  --task <name>         the coordinator's task to join; may be left out when it has only one
  --invite-file <file>  a file holding the enrolment code the operator issued for this name
                        (fedtune participant invite); needed once, at the first join of a
                        task that enrols by invite
  --invite <code>       the same code on the command line (visible to other users of this
                        machine in the process list; prefer --invite-file). Never printed.
                        Without either, the environment variable FEDTUNE_INVITE, if set
  --cache <folder>      backbone download and embedding cache        (default .fedtune/cache)
  --name <name>         this participant's stable name; a reconnect under the same name
                        resumes its place                (default hospital-<hostname>)
  --val-fraction <x>    share of the images held out for local validation     (default 0.1)
  --audit <folder>      keep each round's contribution here, as trained and as encoded
                        before masking, for this hospital's own records
  --allow-plaintext     join a task whose coordinator asks for plaintext updates
                        (aggregation "plaintext-debug"); for debugging with data that is
                        not private. Without it such a task is refused
  -h, --help            this text

TLS and proxies (docs/tls-and-proxies.md); the websocket and the backbone download alike:
  --ca <pem>            trust only the CAs in this file for an https:// coordinator (a
                        private CA); without it, Node's built-in CA list and the
                        system's CA bundle (/etc/ssl/certs/ca-certificates.crt or the like)
  --pin-sha256 <hex>    also require the coordinator's certificate to have this SHA-256
                        fingerprint (64 hex digits, ':' between pairs allowed)
  --proxy <url>         go through this HTTP(S) proxy (HTTP CONNECT); without it,
                        HTTPS_PROXY (HTTP_PROXY for http://) unless NO_PROXY names the host
A certificate that does not verify ends the client with status 3 and why; it never falls
back to an unverified connection.

At start the client prints its name and its identity key's fingerprint. When the task enrols
hospitals by approval, read both to the coordinator's operator: the client waits, asking again
with a growing wait (1 s doubling up to a minute), until the operator runs
  fedtune participant approve --task <task> <name>
Other refusals that may pass (a full task, a limit, the coordinator's own fault) are retried the
same way; a refusal that retrying cannot change ends the client with status 3 and what to do.

History: every round this client took part in is kept in <cache>/history/<task>/<name>.jsonl
(what it sent, in bytes, the outcome, and the global head's accuracy, balanced accuracy, AUC and
per-class recall on this hospital's own validation images); \`fedtune client history\` prints it.

Differential privacy: before its first round the client prints the task's privacy statement (or
that the task gives no differential-privacy guarantee). Under privacy it keeps its own budget: every
round whose update it sends is first written to <cache>/privacy/<task>/<name>.jsonl (a restart
never resets it); after each round it prints "ε spent … of … (δ …)", and before a round that would
take it past the task's target ε it says so with the figures and leaves the run (exit status 4).
With privacy.unit "example" it refuses a task whose δ is not below 1/n for its n training images.

SIGTERM or SIGINT stops the client: a round in progress is left (the coordinator handles it as a
dropout), the history is written, and the client exits 0, as --check does when all is well.

Exit status:
  0  the coordinator finished the run
  1  a failure here or on the way, or a problem --check found: unreadable images, a backbone
     that does not verify, a malformed message from the coordinator, a proxy that refuses the
     tunnel
  2  a wrong command line
  3  refused for good: the coordinator refused this participant (wrong version, unknown or
     finished task, revoked, excluded, invite required or bad, identity key mismatch, …), or
     this client refused the coordinator (plaintext updates, a task that changed, a
     certificate that does not verify: docs/tls-and-proxies.md, a privacy δ not below 1/n)
  4  left the run: the next round would take this hospital past the task's privacy budget
     (docs/privacy.md); restarting cannot change that

Examples:
  fedtune client --coordinator http://127.0.0.1:8080 --data .fedtune/demo/data/hospital-1 --name hospital-1
  FEDTUNE_INVITE=… fedtune client --config /etc/fedtune/client.json --log-format json
  fedtune client history --config /etc/fedtune/client.json
`

/** The environment variable the enrolment code may come in (a systemd EnvironmentFile, say). */
export const INVITE_ENV = 'FEDTUNE_INVITE'

/** What `fedtune client` was asked for, its command line (and config file) read and checked. */
export type ClientCommand = {
  readonly coordinatorUrl: string
  readonly dataDir: string
  /** A labels file for a flat export in dataDir; undefined for class subfolders. */
  readonly labelsFile: string | undefined
  readonly cacheDir: string
  readonly name: string
  readonly task: string | undefined
  /** The enrolment code; never printed. */
  readonly invite: string | undefined
  readonly valFraction: number
  readonly allowPlaintext: boolean
  readonly auditDir: string | undefined
  readonly logFormat: LogFormat
  readonly check: boolean
  /** Trust and proxy for the websocket and the backbone download (--ca, --pin-sha256, --proxy, *_PROXY). */
  readonly connection: Connection
}

type Values = ReturnType<typeof parse>['values']

/**
 * `fedtune client`: takes part until the coordinator finishes the run or a signal stops it (exit 0),
 * a failure (1), a wrong command line (2), a refusal for good (3) or its privacy budget spent (4). `fedtune client history` prints
 * this hospital's own record of its rounds (client-history-command.ts).
 */
export async function runClientCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  if (argv[0] === 'history')
    return (await import('./client-history-command.ts')).runClientHistoryCommand(argv.slice(1), io)
  let values: Values
  try {
    values = parse(argv).values
  } catch (error) {
    io.stderr(`fedtune client: ${(error as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (values.help) {
    io.stdout(USAGE)
    return 0
  }
  try {
    const command = clientCommand(withConfig(values), io.env)
    return await (command.check ? check(command, io) : takePart(command, io))
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    io.stderr(`fedtune client: ${error.message}\n`)
    return error.exitCode
  }
}

function parse(args: string[]) {
  return parseArgs({ args, strict: true, allowPositionals: false, options: CLIENT_OPTIONS })
}

/** The command line's values over those of its --config file, if it names one. */
export function withConfig(values: Values): Values {
  if (values.config === undefined) return values
  return mergeOptions(readConfigFile(values.config, CLIENT_OPTIONS), values as OptionValues) as Values
}

export function clientCommand(values: Values, env: NodeJS.ProcessEnv = {}): ClientCommand {
  const { coordinator, data, task } = values
  if (!coordinator || !/^https?:\/\/[^/]+/.test(coordinator))
    throw new CommandError(
      `--coordinator: expected an http(s) URL such as http://127.0.0.1:8080, got ${JSON.stringify(coordinator ?? null)}`,
      2,
    )
  if (!data) throw new CommandError('--data: expected the folder of images (one subfolder per class)', 2)
  const name = values.name ?? defaultName()
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name))
    throw new CommandError(
      `--name: expected letters, digits, ".", "_" or "-" (at most 64), got ${JSON.stringify(name)}`,
      2,
    )
  if (task !== undefined && !TASK_NAME.test(task))
    throw new CommandError(
      `--task: expected letters, digits, ".", "_" or "-" (at most 64), got ${JSON.stringify(task)}`,
      2,
    )
  const format = values['log-format'] ?? 'text'
  if (format !== 'text' && format !== 'json')
    throw new CommandError(
      `--log-format: expected text or json, got ${escapeText(JSON.stringify(format), 100)}`,
      2,
    )
  return {
    coordinatorUrl: coordinator,
    dataDir: resolve(data),
    labelsFile: values.labels === undefined ? undefined : resolve(values.labels),
    cacheDir: resolve(values.cache ?? '.fedtune/cache'),
    name,
    task,
    invite: readInvite(values.invite, values['invite-file'], env[INVITE_ENV]),
    valFraction:
      values['val-fraction'] === undefined ? 0.1 : fraction('--val-fraction', values['val-fraction']),
    allowPlaintext: values['allow-plaintext'] === true,
    auditDir: values.audit === undefined ? undefined : resolve(values.audit),
    logFormat: format,
    check: values.check === true,
    connection: connectionOf(values, coordinator, env),
  }
}

/** Prints the backend and this participant's identity, then takes part until the run ends or a signal stops it. */
async function takePart(command: ClientCommand, io: CommandIo): Promise<number> {
  // Lines quote what the coordinator sent (task names, refusal reasons): escaped by the logger.
  const log = createLogger(command.logFormat, io.stdout)
  const signals = stopSignals()
  const stopped = () => {
    const { signal } = signals
    log.info('stopped', { signal }, `stopped${signal ? ` by ${signal}` : ''}; a round in progress was left`)
    return 0
  }
  try {
    return await takePartUntilStopped(command, io, log, signals, stopped)
  } finally {
    signals.dispose()
  }
}

/**
 * SIGTERM and SIGINT, listened for from the start, so that a client stopped while it loads stops
 * cleanly too; `onStop` runs at once when a signal came already.
 */
function stopSignals(): {
  readonly signal: NodeJS.Signals | undefined
  onStop(stop: () => void): void
  dispose(): void
} {
  let signal: NodeJS.Signals | undefined
  let onStop: (() => void) | undefined
  const listener = (name: NodeJS.Signals) => {
    signal = name
    onStop?.()
  }
  process.once('SIGINT', listener)
  process.once('SIGTERM', listener)
  return {
    get signal() {
      return signal
    },
    onStop(stop) {
      onStop = stop
      if (signal !== undefined) stop()
    },
    dispose() {
      process.off('SIGINT', listener)
      process.off('SIGTERM', listener)
    },
  }
}

async function takePartUntilStopped(
  command: ClientCommand,
  io: CommandIo,
  log: ReturnType<typeof createLogger>,
  signals: ReturnType<typeof stopSignals>,
  stopped: () => number,
): Promise<number> {
  const backend = await initBackend()
  if (signals.signal) return stopped()
  log.info(
    'started',
    { backend: backend.backend, detail: backend.detail },
    `tensorflow backend: ${backend.backend} (${backend.detail})`,
  )
  let identity: ReturnType<typeof loadOrCreateIdentity>
  try {
    identity = loadOrCreateIdentity(command.cacheDir, command.name)
  } catch (error) {
    throw new CommandError((error as Error).message, 2)
  }
  // What the operator compares before approving this hospital (docs/protocol.md, "Tasks and enrolment").
  const fingerprint = keyFingerprint(nodeCrypto.ed25519PublicKey(identity.seed))
  log.info(
    'identity',
    { name: command.name, fingerprint, keyFile: identity.file, created: identity.created },
    `identity key fingerprint: ${fingerprint} (name ${command.name}; ${identity.created ? 'new key, ' : ''}${identity.file})`,
  )
  if (command.invite !== undefined)
    log.info('invite', {}, 'enrolment code: given (said at the first join only)')
  const { connection } = command
  if (connection.proxy !== null || command.coordinatorUrl.startsWith('https:'))
    log.info(
      'connection',
      { trust: connection.trust, proxy: connection.proxy },
      `coordinator ${command.coordinatorUrl}: certificate checked against ${connection.trust}; ${connection.proxy === null ? 'direct' : `through the proxy ${connection.proxy}`}`,
    )
  const participant = new Participant({
    ...command,
    identitySeed: identity.seed,
    keyFile: identity.file,
    agent: `fedtune-client/0.1.0 ${backend.backend}`,
    log,
    // progress bars are for a terminal; a log collector gets the events alone
    progress: command.logFormat === 'json' ? undefined : process.stderr,
  })
  signals.onStop(() => participant.close())
  try {
    const end = await participant.done
    if (end.how === 'stopped') return stopped()
    if (end.how === 'budget-spent') {
      log.info(
        'left',
        { exitStatus: 4 },
        "left the run: this hospital's privacy budget for the task does not allow another round (exit status 4)",
      )
      return 4
    }
    log.info(
      'finished',
      { rounds: end.rounds, completed: end.completed },
      `the coordinator finished the run: ${end.completed} of ${end.rounds} rounds aggregated`,
    )
    return 0
  } catch (error) {
    const message = (error as Error).message
    const final = error instanceof ParticipantError && error.final
    if (command.logFormat === 'json') log.error(final ? 'refused' : 'error', { final }, message)
    else io.stderr(`fedtune client: ${escapeText(message, 2000)}\n`)
    return final ? 3 : 1
  }
}

/**
 * `--check`: the coordinator's task over HTTP (no socket, no hello: the coordinator sees no
 * participant), the cache folder, every image decoded and counted per label, and what would be
 * sent each round, as sizes. 0 when nothing is wrong, 1 with each problem said.
 */
async function check(command: ClientCommand, io: CommandIo): Promise<number> {
  const log = createLogger(command.logFormat, io.stdout)
  const problems: string[] = []
  let task: TaskInfo | undefined
  try {
    task = await fetchTaskInfo(command.coordinatorUrl, command.task, command.connection.fetch)
    log.info(
      'check-coordinator',
      {
        coordinator: command.coordinatorUrl,
        task: task.name,
        rounds: task.rounds,
        labels: task.head.labels,
        parameters: task.paramCount,
        aggregation: task.aggregation,
      },
      `coordinator ${command.coordinatorUrl}: task "${task.name}", ${task.rounds} rounds, labels ${task.head.labels.join(', ')}, head of ${task.paramCount} parameters, ${task.aggregation === 'secure' ? 'secure aggregation' : 'plaintext updates (plaintext-debug)'}`,
    )
    if (task.aggregation !== 'secure' && !command.allowPlaintext)
      problems.push(
        `the task asks for plaintext updates; this client refuses it without --allow-plaintext (debugging with data that is not private only)`,
      )
  } catch (error) {
    problems.push(`coordinator: ${(error as Error).message}`)
  }
  try {
    mkdirSync(command.cacheDir, { recursive: true })
    accessSync(command.cacheDir, constants.W_OK)
    log.info('check-cache', { cache: command.cacheDir }, `cache ${command.cacheDir}: writable`)
  } catch (error) {
    problems.push(
      `cache ${command.cacheDir}: not writable by this user (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    )
  }
  try {
    const found = await checkDataFolder(command.dataDir, task?.head.labels, command.labelsFile)
    const total = found.perClass.reduce((a, b) => a + b, 0)
    log.info(
      'check-data',
      {
        data: command.dataDir,
        images: total,
        classes: found.classes,
        perClass: found.perClass,
        undecodable: found.undecodable.length,
      },
      `data ${command.dataDir}: ${total} images decode (${found.classes.map((c, i) => `${c} ${found.perClass[i]}`).join(', ')})${found.undecodable.length > 0 ? `; ${found.undecodable.length} do not and would be skipped` : ''}`,
    )
    // A run leaves these out and lists them (embedFolder): a warning here, as there, not a failure.
    for (const { file, reason } of found.undecodable.slice(0, SKIPPED_SHOWN))
      log.warn('check-skipped', { file }, `  would be skipped: ${reason}`)
    if (found.undecodable.length > SKIPPED_SHOWN)
      log.warn(
        'check-skipped',
        { more: found.undecodable.length - SKIPPED_SHOWN },
        `  … and ${found.undecodable.length - SKIPPED_SHOWN} more files that do not decode`,
      )
    if (total === 0) problems.push(`data ${command.dataDir}: no image decodes`)
    const valShare = Math.round(total * command.valFraction)
    if (total > 0 && command.valFraction > 0 && valShare === 0)
      log.warn(
        'check-data',
        { data: command.dataDir },
        `with --val-fraction ${command.valFraction} no image is held out: the history will have no local metrics`,
      )
  } catch (error) {
    if (error instanceof DataFolderError) problems.push(error.summary, ...shownProblems(error.problems))
    else problems.push((error as Error).message)
  }
  if (task) {
    const statement = privacyStatement(task.privacy)
    for (const [i, line] of statement.entries())
      log.info('check-privacy', { part: i + 1, of: statement.length }, line)
    const sizes = roundSizes(task)
    for (const m of sizes.messages)
      log.info(
        'check-sizes',
        { message: m.message, bytes: m.bytes, perNeighbour: m.perNeighbour },
        `each round sends "${m.message}": ${m.bytes} bytes${m.perNeighbour ? ' per neighbour' : ''} (${m.holds})`,
      )
    log.info(
      'check-sizes',
      {},
      'sizes are payloads before socket.io framing; no image, embedding or label of a single image is ever sent',
    )
  }
  for (const problem of problems) log.error('check-problem', {}, problem)
  log.info(
    'check-done',
    { problems: problems.length },
    problems.length === 0
      ? 'check passed: nothing was sent and the coordinator saw no participant'
      : `check found ${problems.length} problem${problems.length === 1 ? '' : 's'}`,
  )
  return problems.length === 0 ? 0 : 1
}

/**
 * The enrolment code from --invite, --invite-file or FEDTUNE_INVITE (one of them), checked as the
 * coordinator will (`INVITE_CODE`); an error never quotes the code.
 */
function readInvite(
  code: string | undefined,
  file: string | undefined,
  env: string | undefined,
): string | undefined {
  if (code !== undefined && file !== undefined)
    throw new CommandError('--invite and --invite-file: expected one of them, got both', 2)
  if (env !== undefined && env !== '' && (code !== undefined || file !== undefined))
    throw new CommandError(
      `${code !== undefined ? '--invite' : '--invite-file'} and ${INVITE_ENV}: expected one enrolment code, got both; unset ${INVITE_ENV} or drop the option`,
      2,
    )
  let text = code ?? (env === '' ? undefined : env?.trim())
  if (file !== undefined) {
    try {
      text = readFileSync(file, 'utf8').trim()
    } catch (error) {
      throw new CommandError(
        `--invite-file: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        2,
      )
    }
  }
  if (text === undefined) return undefined
  if (!INVITE_CODE.test(text))
    throw new CommandError(
      `${file !== undefined ? `--invite-file ${file}` : code !== undefined ? '--invite' : INVITE_ENV}: expected an enrolment code of 16 to 128 letters, digits, "_" or "-", got ${text.length} characters${/^[A-Za-z0-9_-]*$/.test(text) ? '' : ' with others among them'}`,
      2,
    )
  return text
}
