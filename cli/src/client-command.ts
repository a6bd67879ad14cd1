import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  type Connection,
  defaultName,
  loadOrCreateIdentity,
  Participant,
  ParticipantError,
} from '@fedtune/client-node'
import { initBackend } from '@fedtune/model/node'
import { escapeText, INVITE_CODE, keyFingerprint, TASK_NAME } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { CommandError, type CommandIo, processIo } from './command-io.ts'
import { connectionOf } from './network-flags.ts'
import { fraction } from './numbers.ts'

const USAGE = `Usage: fedtune client --coordinator <url> --data <folder> [options]
       (also installed as fedtune-client)

Takes part in a federation as a hospital: downloads the frozen backbone from the coordinator once
(verified by SHA-256), embeds the images in <folder> with it (cached), trains the head locally every
round and sends back only its head update, masked by secure aggregation (SecAgg+) so that the
coordinator learns the sum over hospitals and never this hospital's update, example count or label
mix. Images and embeddings never leave this machine. The identity key that signs its secure-round
keys is created on first run in <cache>/identity/<name>.ed25519; keep it.

<folder> holds one subfolder per class, named as the task's labels, with PNG or JPEG images
(grayscale or RGB, any size), e.g.  xrays/normal/*.png  xrays/pneumonia/*.jpg

Options:
  --coordinator <url>   the coordinator, e.g. http://coordinator.example:8080       (required)
  --data <folder>       the image folder                                            (required)
  --task <name>         the coordinator's task to join; may be left out when it has only one
  --invite-file <file>  a file holding the enrolment code the operator issued for this name
                        (fedtune participant invite); needed once, at the first join of a
                        task that enrols by invite
  --invite <code>       the same code on the command line (visible to other users of this
                        machine in the process list; prefer --invite-file). Never printed
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
                        private CA); without it, Node's built-in CA list
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

Exit status:
  0  the coordinator finished the run
  1  a failure here or on the way: unreadable images, a backbone that does not verify, a
     malformed message from the coordinator, a proxy that refuses the tunnel
  2  a wrong command line
  3  refused for good: the coordinator refused this participant (wrong version, unknown or
     finished task, revoked, excluded, invite required or bad, identity key mismatch, …), or
     this client refused the coordinator (plaintext updates, a task that changed, a
     certificate that does not verify: docs/tls-and-proxies.md)

Example:
  fedtune client --coordinator http://127.0.0.1:8080 --data .fedtune/demo/data/hospital-1 --name hospital-1
`

/** What `fedtune client` was asked for, its command line read and checked. */
export type ClientCommand = {
  readonly coordinatorUrl: string
  readonly dataDir: string
  readonly cacheDir: string
  readonly name: string
  readonly task: string | undefined
  /** The enrolment code; never printed. */
  readonly invite: string | undefined
  readonly valFraction: number
  readonly allowPlaintext: boolean
  readonly auditDir: string | undefined
  /** Trust and proxy for the websocket and the backbone download (--ca, --pin-sha256, --proxy, *_PROXY). */
  readonly connection: Connection
}

/**
 * `fedtune client`: takes part until the coordinator finishes the run (exit 0), a failure (1), a
 * wrong command line (2) or a refusal for good (3).
 */
export async function runClientCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  let values: ReturnType<typeof parse>['values']
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
    return await takePart(clientCommand(values, io.env), io)
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    io.stderr(`fedtune client: ${error.message}\n`)
    return error.exitCode
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      coordinator: { type: 'string' },
      data: { type: 'string' },
      cache: { type: 'string' },
      name: { type: 'string' },
      task: { type: 'string' },
      invite: { type: 'string' },
      'invite-file': { type: 'string' },
      'val-fraction': { type: 'string' },
      'allow-plaintext': { type: 'boolean' },
      audit: { type: 'string' },
      ca: { type: 'string' },
      'pin-sha256': { type: 'string' },
      proxy: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}

function clientCommand(values: ReturnType<typeof parse>['values'], env: NodeJS.ProcessEnv): ClientCommand {
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
  return {
    coordinatorUrl: coordinator,
    dataDir: resolve(data),
    cacheDir: resolve(values.cache ?? '.fedtune/cache'),
    name,
    task,
    invite: readInvite(values.invite, values['invite-file']),
    valFraction:
      values['val-fraction'] === undefined ? 0.1 : fraction('--val-fraction', values['val-fraction']),
    allowPlaintext: values['allow-plaintext'] === true,
    auditDir: values.audit === undefined ? undefined : resolve(values.audit),
    connection: connectionOf(values, coordinator, env),
  }
}

/** Prints the backend and this participant's identity, then takes part until the run ends. */
async function takePart(command: ClientCommand, io: CommandIo): Promise<number> {
  // Lines quote what the coordinator sent (task names, refusal reasons): one visible line each.
  const print = (line: string) => io.stdout(`${escapeText(line, 2000)}\n`)
  const backend = await initBackend()
  print(`tensorflow backend: ${backend.backend} (${backend.detail})`)
  let identity: ReturnType<typeof loadOrCreateIdentity>
  try {
    identity = loadOrCreateIdentity(command.cacheDir, command.name)
  } catch (error) {
    throw new CommandError((error as Error).message, 2)
  }
  // What the operator compares before approving this hospital (docs/protocol.md, "Tasks and enrolment").
  print(
    `identity key fingerprint: ${keyFingerprint(nodeCrypto.ed25519PublicKey(identity.seed))} (name ${command.name}; ${identity.created ? 'new key, ' : ''}${identity.file})`,
  )
  if (command.invite !== undefined) print('enrolment code: given (said at the first join only)')
  const { connection } = command
  if (connection.proxy !== null || command.coordinatorUrl.startsWith('https:'))
    print(
      `coordinator ${command.coordinatorUrl}: certificate checked against ${connection.trust}; ${connection.proxy === null ? 'direct' : `through the proxy ${connection.proxy}`}`,
    )
  const participant = new Participant({
    ...command,
    identitySeed: identity.seed,
    keyFile: identity.file,
    agent: `fedtune-client/0.1.0 ${backend.backend}`,
    print,
    progress: process.stderr,
  })
  const stop = () => participant.close()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    const finished = await participant.done
    print(`the coordinator finished the run: ${finished.completed} of ${finished.rounds} rounds aggregated`)
    return 0
  } catch (error) {
    io.stderr(`fedtune client: ${escapeText((error as Error).message, 2000)}\n`)
    return error instanceof ParticipantError && error.final ? 3 : 1
  }
}

/**
 * The enrolment code from --invite or --invite-file (one of them), checked as the coordinator will
 * (`INVITE_CODE`); an error never quotes the code.
 */
function readInvite(code: string | undefined, file: string | undefined): string | undefined {
  if (code !== undefined && file !== undefined)
    throw new CommandError('--invite and --invite-file: expected one of them, got both', 2)
  let text = code
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
      `${file === undefined ? '--invite' : `--invite-file ${file}`}: expected an enrolment code of 16 to 128 letters, digits, "_" or "-", got ${text.length} characters${/^[A-Za-z0-9_-]*$/.test(text) ? '' : ' with others among them'}`,
      2,
    )
  return text
}
