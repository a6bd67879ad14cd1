import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { initBackend } from '@fedtune/model/node'
import { escapeText, INVITE_CODE, keyFingerprint, TASK_NAME } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { loadOrCreateIdentity } from './identity.ts'
import { defaultName, Participant, ParticipantError } from './participant.ts'

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

At start the client prints its name and its identity key's fingerprint. When the task enrols
hospitals by approval, read both to the coordinator's operator: the client waits, asking again
with a growing wait (1 s doubling up to a minute), until the operator runs
  fedtune participant approve --task <task> <name>
Other refusals that may pass (a full task, a limit, the coordinator's own fault) are retried the
same way; a refusal that retrying cannot change ends the client with status 3 and what to do.

Exit status:
  0  the coordinator finished the run
  1  a failure here or on the way: unreadable images, a backbone that does not verify, a
     malformed message from the coordinator
  2  a wrong command line
  3  refused for good: the coordinator refused this participant (wrong version, unknown or
     finished task, revoked, excluded, invite required or bad, identity key mismatch, …), or
     this client refused the coordinator's task (plaintext updates, a task that changed)

Example:
  fedtune client --coordinator http://127.0.0.1:8080 --data .fedtune/demo/data/hospital-1 --name hospital-1
`

export async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>
  try {
    ;({ values } = parseArgs({
      args: argv,
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
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }))
  } catch (error) {
    process.stderr.write(`fedtune client: ${(error as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const fail = (message: string) => {
    process.stderr.write(`fedtune client: ${message}\n`)
    return 2
  }
  const coordinator = values.coordinator as string | undefined
  const data = values.data as string | undefined
  if (!coordinator || !/^https?:\/\/[^/]+/.test(coordinator))
    return fail(
      `--coordinator: expected an http(s) URL such as http://127.0.0.1:8080, got ${JSON.stringify(coordinator ?? null)}`,
    )
  if (!data) return fail('--data: expected the folder of images (one subfolder per class)')
  const name = (values.name as string | undefined) ?? defaultName()
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name))
    return fail(`--name: expected letters, digits, ".", "_" or "-" (at most 64), got ${JSON.stringify(name)}`)
  const task = values.task as string | undefined
  if (task !== undefined && !TASK_NAME.test(task))
    return fail(`--task: expected letters, digits, ".", "_" or "-" (at most 64), got ${JSON.stringify(task)}`)
  const invite = readInvite(values.invite as string | undefined, values['invite-file'] as string | undefined)
  if (typeof invite === 'object') return fail(invite.error)
  const valFraction = values['val-fraction'] === undefined ? 0.1 : Number(values['val-fraction'])
  if (!(valFraction >= 0 && valFraction < 1))
    return fail(`--val-fraction: expected a number in [0, 1), got ${values['val-fraction']}`)

  // Lines quote what the coordinator sent (task names, refusal reasons): one visible line each.
  const print = (line: string) => process.stdout.write(`${escapeText(line, 2000)}\n`)
  const backend = await initBackend()
  print(`tensorflow backend: ${backend.backend} (${backend.detail})`)
  const cacheDir = resolve((values.cache as string | undefined) ?? '.fedtune/cache')
  let identity: ReturnType<typeof loadOrCreateIdentity>
  try {
    identity = loadOrCreateIdentity(cacheDir, name)
  } catch (error) {
    return fail((error as Error).message)
  }
  const keyFile = `${cacheDir}/identity/${name}.ed25519`
  // What the operator compares before approving this hospital (docs/protocol.md, "Tasks and enrolment").
  print(
    `identity key fingerprint: ${keyFingerprint(nodeCrypto.ed25519PublicKey(identity.seed))} (name ${name}; ${identity.created ? 'new key, ' : ''}${keyFile})`,
  )
  if (invite !== undefined) print('enrolment code: given (said at the first join only)')
  const participant = new Participant({
    coordinatorUrl: coordinator,
    dataDir: resolve(data),
    cacheDir,
    name,
    identitySeed: identity.seed,
    task,
    invite,
    keyFile,
    allowPlaintext: values['allow-plaintext'] === true,
    auditDir: values.audit === undefined ? undefined : resolve(values.audit as string),
    valFraction,
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
    process.stderr.write(`fedtune client: ${escapeText((error as Error).message, 2000)}\n`)
    return error instanceof ParticipantError && error.final ? 3 : 1
  }
}

/**
 * The enrolment code from --invite or --invite-file (one of them), checked as the coordinator will
 * (`INVITE_CODE`); an error never quotes the code.
 */
function readInvite(
  code: string | undefined,
  file: string | undefined,
): string | undefined | { error: string } {
  if (code !== undefined && file !== undefined)
    return { error: '--invite and --invite-file: expected one of them, got both' }
  let text = code
  if (file !== undefined) {
    try {
      text = readFileSync(file, 'utf8').trim()
    } catch (error) {
      return {
        error: `--invite-file: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      }
    }
  }
  if (text === undefined) return undefined
  if (!INVITE_CODE.test(text))
    return {
      error: `${file === undefined ? '--invite' : `--invite-file ${file}`}: expected an enrolment code of 16 to 128 letters, digits, "_" or "-", got ${text.length} characters${/^[A-Za-z0-9_-]*$/.test(text) ? '' : ' with others among them'}`,
    }
  return text
}
