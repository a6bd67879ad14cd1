// `npm run release:check` (CI, after `npm run check`): builds the release, installs it with npm into a
// temporary prefix outside the clone, and, with PATH holding only that prefix's bin and node, runs an
// operator's whole path with the installed commands from a folder outside the clone: a data split of
// PneumoniaMNIST from ../shared, an admin account, a coordinator serving a task file, invites issued
// over the API, two hospitals, a few secure rounds. It fails unless every round is aggregated and the
// held-out accuracy is printed. Needs the npm registry (the package's dependencies are installed).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { STAGE } from './build.ts'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const SHARED = resolve(REPO, '..', 'shared')
const DATASET = join(SHARED, 'datasets', 'pneumoniamnist.npz')
const BACKBONE = join(SHARED, 'backbones', 'mobilenet_v2_0.35_224')
const HOSPITALS = 2
const ROUNDS = 3
/** The whole check's bound: a hung process fails it instead of holding CI. */
const TIMEOUT_MS = 10 * 60_000

class CheckFailed extends Error {}

/** Every process the check started, stopped if it fails. */
const children = new Set<ChildProcess>()

function fail(message: string): never {
  throw new CheckFailed(message)
}

type Ran = { readonly code: number; readonly stdout: string; readonly stderr: string }

/** `--prefix <dir>`: check the release already installed there instead of building and installing it. */
async function main(given: string | undefined): Promise<number> {
  for (const path of [DATASET, join(BACKBONE, 'model.json')])
    if (!existsSync(path)) fail(`${path} is missing; the check reads ../shared beside the repository`)
  const version = (JSON.parse(readFileSync(join(REPO, 'cli/package.json'), 'utf8')) as { version: string })
    .version

  const tmp = mkdtempSync(join(tmpdir(), 'fedtune-release-'))
  if (tmp.startsWith(REPO)) fail(`the temporary folder ${tmp} is inside the clone`)
  const work = join(tmp, 'work')
  const nodeBin = join(tmp, 'node-bin')
  mkdirSync(work, { recursive: true })
  mkdirSync(nodeBin)
  symlinkSync(process.execPath, join(nodeBin, 'node'))

  let started = Date.now()
  let prefix = join(tmp, 'prefix')
  if (given !== undefined) {
    prefix = resolve(given)
    console.log(`using the release installed in ${prefix}`)
  } else {
    execFileSync('npm', ['run', 'release'], { cwd: REPO, stdio: 'inherit' })
    const tgz = join(REPO, `fedtune-${version}.tgz`)
    if (!existsSync(tgz)) fail(`npm run release left no ${tgz}`)
    console.log(`release built in ${seconds(started)}`)
    started = Date.now()
    execFileSync('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', tgz], {
      cwd: work,
      stdio: 'inherit',
    })
    console.log(`installed into ${prefix} in ${seconds(started)}`)
  }
  const installed = join(prefix, 'lib', 'node_modules', 'fedtune')
  for (const forbidden of ['tsx', 'typescript', 'vite', 'esbuild', '@fedtune'])
    if (existsSync(join(installed, 'node_modules', forbidden)))
      fail(`the installed package holds ${forbidden}, which is not a runtime dependency`)
  for (const file of readdirSync(join(installed, 'dist')))
    if (readFileSync(join(installed, 'dist', file), 'utf8').includes(REPO))
      fail(`the installed dist/${file} names the clone ${REPO}`)
  // The dependencies at the versions the package pins. The rest of the tree is the lockfile's only
  // where npm honours the package's npm-shrinkwrap.json, which it does not for a tarball installed
  // from a file (npm/cli#5325; docs/release.md): the drift is reported, not failed.
  const pinned = JSON.parse(readFileSync(join(STAGE, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>
  }
  /** The version Node loads for the lockfile folder `at`: there, or where npm deduplicated it, up the tree. */
  const versionAt = (at: string): string => {
    const manifest = join(installed, at, 'package.json')
    if (existsSync(manifest))
      return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version
    const cut = at.lastIndexOf('/node_modules/')
    if (cut < 0) return 'nothing'
    const name = at.slice(cut + '/node_modules/'.length)
    const enclosing = at.slice(0, cut).lastIndexOf('/node_modules/')
    return versionAt(`${enclosing < 0 ? '' : `${at.slice(0, enclosing)}/`}node_modules/${name}`)
  }
  for (const [name, version] of Object.entries(pinned.dependencies)) {
    const got = versionAt(join('node_modules', name))
    if (got !== version) fail(`${name}: the package pins ${version}, npm installed ${got}`)
  }
  const { packages } = JSON.parse(readFileSync(join(STAGE, 'npm-shrinkwrap.json'), 'utf8')) as {
    packages: Record<string, { version?: string; optional?: boolean }>
  }
  const required = Object.entries(packages).filter(([at, e]) => at !== '' && e.optional !== true)
  const drift = required
    .filter(([at, e]) => versionAt(at) !== e.version)
    .map(([at]) => at.slice('node_modules/'.length))
  console.log(
    `${Object.keys(pinned.dependencies).length} dependencies at their pinned versions; ${drift.length} of ${required.length} packages of the tree differ from the lockfile${drift.length > 0 ? ` (${drift.join(', ')})` : ''}`,
  )

  // Only the installed commands and node: nothing of the clone, no tsx, no npx.
  const env = { PATH: `${join(prefix, 'bin')}:${nodeBin}`, HOME: tmp }
  const run = (command: string, args: string[], input?: string): Promise<Ran> => {
    const child = spawn(command, args, {
      cwd: work,
      env,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    if (input !== undefined) child.stdin?.end(input)
    return collect(command, child)
  }
  const ok = async (command: string, args: string[], input?: string): Promise<string> => {
    const r = await run(command, args, input)
    if (r.code !== 0) fail(`${command} ${args.join(' ')} exited with ${r.code}:\n${r.stderr}${r.stdout}`)
    return r.stdout
  }

  const said = (await ok('fedtune', ['--version'])).trim()
  if (said !== `fedtune ${version}`) fail(`fedtune --version: expected "fedtune ${version}", got "${said}"`)
  if (!(await ok('fedtune', ['client', '--help'])).startsWith('Usage: fedtune client'))
    fail('fedtune client --help printed no usage')
  const coordinatorHelp = await ok('fedtune-coordinator', ['--help'])
  if (!coordinatorHelp.includes(`(default ${join(installed, 'pages', 'client-web')})`))
    fail(
      `fedtune coordinator --help: expected the installed page folder as --web's default, got:\n${coordinatorHelp}`,
    )

  started = Date.now()
  await ok('fedtune', [
    'data',
    'split',
    '--dataset',
    DATASET,
    '--out',
    'data',
    '--hospitals',
    String(HOSPITALS),
    '--per-hospital',
    '80',
    '--test-limit',
    '100',
    '--val-limit',
    '100',
    '--seed',
    '1',
  ])
  const digest = (await ok('fedtune', ['backbone', 'digest', BACKBONE])).trim().split(/\s+/).at(-1) as string
  const task = 'release-check'
  writeFileSync(
    join(work, 'task.json'),
    JSON.stringify({
      name: task,
      backbone: { source: BACKBONE, sha256: digest },
      head: {
        layers: [{ type: 'dense', units: 64, activation: 'relu' }],
        labels: ['normal', 'pneumonia'],
        seed: 42,
      },
      training: { rounds: ROUNDS, localEpochs: 1, batchSize: 32, optimizer: 'adam', learningRate: 0.001 },
      participation: { minParticipants: HOSPITALS, roundDeadlineSeconds: 300, joinTimeoutSeconds: 300 },
      evaluation: { validation: join(work, 'data', 'validation'), test: join(work, 'data', 'test') },
      enrolment: { hospitals: 'invite' },
    }),
  )
  const admin = { name: 'release-check', password: 'release-check-password' }
  await ok(
    'fedtune',
    ['operator', 'add', '--role', 'admin', admin.name, '--password-stdin', '--database', 'coordinator/db'],
    `${admin.password}\n`,
  )

  const coordinator = spawn(
    'fedtune-coordinator',
    [
      '--task',
      'task.json',
      '--port',
      '0',
      '--database',
      'coordinator/db',
      '--out',
      'run',
      '--cache',
      'cache/coordinator',
    ],
    { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const coordinatorDone = collect('coordinator', coordinator, true)
  const url = await new Promise<string>((found, failed) => {
    createInterface({ input: coordinator.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const match = / serving at (https?:\/\/[^\s:]+:\d+):/.exec(line)
      if (match?.[1]) found(match[1])
    })
    coordinator.once('exit', (code) =>
      failed(new CheckFailed(`the coordinator exited with ${code} before serving`)),
    )
  })

  await apiToken(url, admin)
  const clients: Promise<Ran>[] = []
  for (let i = 1; i <= HOSPITALS; i++) {
    const name = `hospital-${i}`
    const invite = JSON.parse(
      await ok('fedtune', [
        'participant',
        'invite',
        name,
        '--task',
        task,
        '--coordinator',
        url,
        '--token-file',
        'token',
        '--json',
      ]),
    ) as { code: string }
    writeFileSync(join(work, `${name}.invite`), invite.code)
    // One hospital through `fedtune client`, the other through `fedtune-client`: both commands installed.
    const [command, first] = i === 1 ? ['fedtune', ['client']] : ['fedtune-client', []]
    clients.push(
      run(command, [
        ...first,
        '--coordinator',
        url,
        '--task',
        task,
        '--data',
        join('data', name),
        '--name',
        name,
        '--invite-file',
        `${name}.invite`,
        '--cache',
        `cache/${name}`,
      ]),
    )
  }
  const [done, ...hospitals] = await Promise.all([coordinatorDone, ...clients])
  for (const [i, h] of hospitals.entries())
    if (h.code !== 0) fail(`hospital-${i + 1} exited with ${h.code}:\n${h.stderr}`)
  if (done.code !== 0) fail(`the coordinator exited with ${done.code}:\n${done.stderr}`)
  const rounds = [
    ...done.stdout.matchAll(
      /round (\d+)\/(\d+) {2}aggregated \(securely: (\d+) participants.*test ACC (\d\.\d{3})/g,
    ),
  ]
  const last = rounds.at(-1)
  if (rounds.length !== ROUNDS || last?.[1] !== String(ROUNDS) || last[3] !== String(HOSPITALS))
    fail(
      `expected ${ROUNDS} securely aggregated rounds of ${HOSPITALS} hospitals, the coordinator printed:\n${done.stdout}`,
    )
  console.log(`federated ${ROUNDS} rounds in ${seconds(started)}: test accuracy ${last[4]}`)
  rmSync(tmp, { recursive: true, force: true })
  return 0

  /** Signs in as the admin and makes an API token (docs/operators.md), written to <work>/token. */
  async function apiToken(base: string, who: { name: string; password: string }): Promise<void> {
    const session = await fetch(`${base}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(who),
    })
    if (!session.ok) fail(`POST /api/session answered ${session.status}: ${await session.text()}`)
    const { csrfToken } = (await session.json()) as { csrfToken: string }
    const cookie = session.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ')
    const made = await fetch(`${base}/api/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrfToken },
      body: JSON.stringify({ label: 'release check' }),
    })
    if (made.status !== 201) fail(`POST /api/tokens answered ${made.status}: ${await made.text()}`)
    const { token } = (await made.json()) as { token: string }
    writeFileSync(join(work, 'token'), token)
  }
}

/** A child's exit code and output; with `echo`, its lines are shown as they come, tagged. */
function collect(tag: string, child: ChildProcess, echo = false): Promise<Ran> {
  children.add(child)
  child.once('exit', () => children.delete(child))
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (b: Buffer) => {
    stdout += b
    if (echo) process.stdout.write(b.toString().replace(/^(?=.)/gm, `[${tag}] `))
  })
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b
  })
  return new Promise((done, failed) => {
    child.once('error', (error) => failed(new CheckFailed(`${tag}: ${error.message}`)))
    child.once('exit', (code, signal) => done({ code: code ?? (signal ? 128 : 1), stdout, stderr }))
  })
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`
}

const timer = setTimeout(() => {
  process.stderr.write(`npm run release:check: no result after ${TIMEOUT_MS / 60_000} minutes\n`)
  for (const child of children) child.kill('SIGTERM')
  process.exit(1)
}, TIMEOUT_MS)
try {
  process.exitCode = await main(parseArgs({ options: { prefix: { type: 'string' } } }).values.prefix)
} catch (error) {
  if (!(error instanceof CheckFailed)) throw error
  process.stderr.write(`npm run release:check: ${error.message}\n`)
  for (const child of children) child.kill('SIGTERM')
  process.exitCode = 1
} finally {
  clearTimeout(timer)
}
