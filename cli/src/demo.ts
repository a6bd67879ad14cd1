import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { installLayout } from '@fedtune/coordinator/install'
import { readBackboneFolder } from '@fedtune/model/node'
import { CommandError } from './command-io.ts'
import { runDataCommand } from './data/index.ts'
import { demoTask } from './demo-task.ts'
import { portNumber, positiveInteger } from './numbers.ts'

const BIN = installLayout.bin

const USAGE = `Usage: fedtune demo [options]        (npm run demo)

Splits PneumoniaMNIST (real pediatric chest X-rays) from ../shared into hospital folders of PNG
files, writes a task file, then starts a coordinator and one client process per hospital on this
machine, federating over real sockets. Prints each round's accuracy and AUC on the official test
split. Images are embedded once and cached, so a second run starts training at once.

Options:
  --hospitals <n>        hospital clients                               (default 3)
  --rounds <n>           federated rounds                               (default 5)
  --per-hospital <n>     training images per hospital                   (default 400)
  --partition <p>        iid or dirichlet                               (default iid)
  --alpha <x>            Dirichlet concentration                        (default 0.5)
  --dataset <name>       a MedMNIST set in <shared>/datasets            (default pneumoniamnist)
  --backbone <name>      a folder in <shared>/backbones                 (default mobilenet_v2_0.35_224)
  --shared <dir>         the shared data folder                         (default ../shared)
  --out <dir>            where data, cache and run logs go              (default .fedtune/demo)
  --volunteers           also take one browser volunteer per round: open the printed
                         /join/ address and pick a hospital folder (rounds do not wait for it)
  --port <n>             the coordinator's port; 0 picks a free one     (default 0)
  -h, --help             this text
`

const LABELS: Record<string, string[]> = {
  pneumoniamnist: ['normal', 'pneumonia'],
  breastmnist: ['malignant', 'normal-or-benign'],
  retinamnist: ['grade-0', 'grade-1', 'grade-2', 'grade-3', 'grade-4'],
}

export async function runDemo(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>
  try {
    ;({ values } = parseArgs({
      args: argv,
      options: {
        hospitals: { type: 'string', default: '3' },
        rounds: { type: 'string', default: '5' },
        'per-hospital': { type: 'string', default: '400' },
        partition: { type: 'string', default: 'iid' },
        alpha: { type: 'string', default: '0.5' },
        dataset: { type: 'string', default: 'pneumoniamnist' },
        backbone: { type: 'string', default: 'mobilenet_v2_0.35_224' },
        shared: { type: 'string', default: installLayout.sharedDir },
        out: { type: 'string', default: '.fedtune/demo' },
        volunteers: { type: 'boolean', default: false },
        port: { type: 'string', default: '0' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }))
  } catch (error) {
    process.stderr.write(`fedtune demo: ${(error as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  let hospitals: number
  let rounds: number
  let port: number
  try {
    hospitals = positiveInteger('--hospitals', String(values.hospitals), 20)
    rounds = positiveInteger('--rounds', String(values.rounds))
    port = portNumber('--port', String(values.port))
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    process.stderr.write(`fedtune demo: ${error.message}\n`)
    return 2
  }
  const volunteers = values.volunteers === true
  const dataset = String(values.dataset)
  const shared = resolve(String(values.shared))
  const npz = join(shared, 'datasets', `${dataset}.npz`)
  const backboneDir = join(shared, 'backbones', String(values.backbone))
  for (const [what, path] of [
    ['data set', npz],
    ['backbone', join(backboneDir, 'model.json')],
  ] as const)
    if (!existsSync(path)) {
      process.stderr.write(
        `fedtune demo: the ${what} ${path} is missing; the demo reads ../shared beside the repository (or --shared)\n`,
      )
      return 1
    }

  const out = resolve(String(values.out))
  const dataDir = join(out, 'data', `${dataset}-${values.partition}-${hospitals}x${values['per-hospital']}`)
  const splitArgs = [
    'split',
    '--dataset',
    npz,
    '--out',
    dataDir,
    '--hospitals',
    String(hospitals),
    '--per-hospital',
    String(values['per-hospital']),
    '--partition',
    String(values.partition),
    ...(values.partition === 'dirichlet' ? ['--alpha', String(values.alpha)] : []),
    '--seed',
    '1',
  ]
  if (existsSync(join(dataDir, 'split.json')))
    console.log(`using the hospital folders in ${relative(process.cwd(), dataDir)}`)
  else
    try {
      await runDataCommand(splitArgs)
    } catch (error) {
      process.stderr.write(`fedtune demo: ${(error as Error).message}\n`)
      return 1
    }

  const { digest } = await readBackboneFolder(backboneDir)
  const task = demoTask({
    dataset,
    hospitals,
    rounds,
    volunteers,
    backboneDir,
    digest,
    labels: LABELS[dataset] ?? labelsFromFolder(dataDir),
    // a split made before `data split` wrote a validation folder has none: the demo then only tests
    validation: existsSync(join(dataDir, 'validation')) ? join(dataDir, 'validation') : null,
    test: join(dataDir, 'test'),
  })
  mkdirSync(out, { recursive: true })
  const taskFile = join(out, 'task.json')
  writeFileSync(taskFile, `${JSON.stringify(task, null, 2)}\n`)
  const runDir = join(out, 'runs', new Date().toISOString().replace(/[:.]/g, '-'))
  const cache = join(out, 'cache')
  console.log(`task file ${relative(process.cwd(), taskFile)}; run log in ${relative(process.cwd(), runDir)}`)

  // The operator's part: an enrolment code per hospital and an admin account, in the coordinator's
  // database, before it starts.
  const database = join(runDir, 'db')
  const invites = await inviteHospitals(database, String(task.name), hospitals)
  const admin = await demoAdmin(database)
  const coordinator = start('coordinator', [
    'coordinator',
    '--task',
    taskFile,
    '--port',
    String(port),
    '--out',
    runDir,
    '--cache',
    cache,
  ])
  const url = await new Promise<string>((resolveUrl, reject) => {
    coordinator.lines.on('line', (line: string) => {
      // the port opens at once; hospitals start once the task serves (its held-out set embedded)
      const match = / serving at (https?:\/\/[^\s:]+:\d+):/.exec(line)
      if (match?.[1]) resolveUrl(match[1])
    })
    coordinator.child.once('exit', (code) =>
      reject(new Error(`the coordinator exited with ${code} before listening`)),
    )
  }).catch((error: Error) => error)
  if (url instanceof Error) {
    process.stderr.write(`fedtune demo: ${url.message}\n`)
    return 1
  }
  console.log(
    `operator console: ${url}/console/ (sign in as ${admin.name}, password ${admin.password}; the demo's own account, in ${relative(process.cwd(), database)})`,
  )
  if (volunteers)
    console.log(
      `volunteers: open ${url}/join/ in a browser on this machine and pick a folder such as ${join(dataDir, 'hospital-1')}`,
    )
  const clients = Array.from({ length: hospitals }, (_, i) =>
    start(`hospital-${i + 1}`, [
      'client',
      '--coordinator',
      url,
      '--data',
      join(dataDir, `hospital-${i + 1}`),
      '--cache',
      cache,
      '--name',
      `hospital-${i + 1}`,
      '--invite',
      invites[i] as string,
    ]),
  )
  const stop = () => {
    for (const p of [coordinator, ...clients]) p.child.kill('SIGTERM')
  }
  process.once('SIGINT', stop)
  const codes = await Promise.all([coordinator, ...clients].map((p) => p.exited))
  process.off('SIGINT', stop)

  const log = join(runDir, 'rounds.jsonl')
  if (existsSync(log)) {
    const records = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(
        (l) =>
          JSON.parse(l) as {
            round: number
            status: string
            examples: number
            validation?: { accuracy: number; auc: number | null } | null
            test?: { accuracy: number; auc: number | null } | null
            best?: { round: number } | null
          },
      )
    const best = records.at(-1)?.best?.round
    const figure = (v: number | null | undefined) => (v === null || v === undefined ? '  -  ' : v.toFixed(3))
    console.log('\nround  status      examples  val ACC  val AUC  test ACC  test AUC')
    for (const r of records)
      console.log(
        `${String(r.round).padStart(5)}  ${r.status.padEnd(10)}  ${String(r.examples).padStart(8)}  ${figure(r.validation?.accuracy)}    ${figure(r.validation?.auc)}    ${figure(r.test?.accuracy)}     ${figure(r.test?.auc)}${r.round === best ? '  ★ best (the exported model)' : ''}`,
      )
  }
  const failed = codes.filter((c) => c !== 0).length
  if (failed > 0)
    process.stderr.write(`fedtune demo: ${failed} of ${codes.length} processes exited with an error\n`)
  return failed === 0 ? 0 : 1
}

/** One enrolment code per demo hospital, issued in the run's database as `fedtune participant invite` would. */
async function inviteHospitals(database: string, task: string, hospitals: number): Promise<string[]> {
  const { issueInvite } = await import('@fedtune/coordinator')
  const { openStore } = await import('@fedtune/coordinator/store')
  const store = await openStore(database)
  try {
    if ((await store.tasks.get(task)) === null)
      await store.tasks.submit({ name: task, file: {}, submittedBy: 'demo' })
    const codes: string[] = []
    for (let i = 1; i <= hospitals; i++)
      codes.push((await issueInvite(store, { task, participant: `hospital-${i}`, createdBy: 'demo' })).code)
    return codes
  } finally {
    await store.close()
  }
}

/** The demo's admin account, with a password made for this run (printed once, kept only as its hash). */
async function demoAdmin(database: string): Promise<{ name: string; password: string }> {
  const { hashPassword, newSecret } = await import('@fedtune/coordinator/operators')
  const { openStore } = await import('@fedtune/coordinator/store')
  const name = 'demo-admin'
  const password = newSecret().slice(0, 20)
  const store = await openStore(database)
  try {
    await store.operators.add({ name, role: 'admin', passwordHash: await hashPassword(password) })
    return { name, password }
  } finally {
    await store.close()
  }
}

function labelsFromFolder(dataDir: string): string[] {
  const manifest = JSON.parse(readFileSync(join(dataDir, 'split.json'), 'utf8')) as { classes?: string[] }
  if (!manifest.classes) throw new Error(`${dataDir}/split.json names no classes`)
  return manifest.classes
}

type Started = { child: ChildProcess; lines: ReturnType<typeof createInterface>; exited: Promise<number> }

/** A child fedtune process whose output is prefixed with its role, line by line. */
function start(role: string, args: string[]): Started {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const tag = `[${role}]`.padEnd(15)
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  lines.on('line', (line) => process.stdout.write(`${tag}${line}\n`))
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) =>
    process.stderr.write(`${tag}${line}\n`),
  )
  const exited = new Promise<number>((resolveExit) => child.once('exit', (code) => resolveExit(code ?? 1)))
  return { child, lines, exited }
}
