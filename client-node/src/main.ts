import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { initBackend } from '@fedtune/model/node'
import { escapeText, participantId } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { loadOrCreateIdentity } from './identity.ts'
import { defaultName, Participant } from './participant.ts'

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
  print(
    `identity ${participantId(nodeCrypto.ed25519PublicKey(identity.seed))} (${identity.created ? 'new, ' : ''}${cacheDir}/identity/${name}.ed25519)`,
  )
  const participant = new Participant({
    coordinatorUrl: coordinator,
    dataDir: resolve(data),
    cacheDir,
    name,
    identitySeed: identity.seed,
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
    return 1
  }
}
