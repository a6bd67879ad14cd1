// `npm run release`: builds fedtune-<version>.tgz, one installable package (docs/release.md). Our
// workspaces' TypeScript is bundled with esbuild into ESM for Node 20; every third-party package
// stays an external, a dependency of the package at the lockfile's version.
import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { isBuiltin } from 'node:module'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { installLayout } from '@fedtune/coordinator/install'
import { build, type Plugin } from 'esbuild'
import {
  type Lockfile,
  type Manifest,
  pinnedTree,
  ReleaseError,
  type RuntimeDependency,
  releaseManifest,
  releaseShrinkwrap,
  runtimeDependencies,
} from './release-manifest.ts'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
/** The package's folder before packing; under dist/, which git, biome and tsc leave alone. */
export const STAGE = join(REPO, 'dist', 'release')

/** Each command, the cli source its release script runs, and that source's entry function. */
const COMMANDS = {
  fedtune: { entry: 'main', source: 'cli/src/main.ts', run: 'main' },
  'fedtune-client': { entry: 'client-command', source: 'cli/src/client-command.ts', run: 'runClientCommand' },
  'fedtune-coordinator': {
    entry: 'coordinator-command',
    source: 'cli/src/coordinator-command.ts',
    run: 'runCoordinatorCommand',
  },
} as const

/** In the bundle, the repository's layout module is replaced by the package's (release-layout.ts). */
const LAYOUT = join(REPO, 'coordinator/src/install/layout.ts')
const RELEASE_LAYOUT = join(REPO, 'coordinator/src/install/release-layout.ts')

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T

export async function buildRelease(): Promise<{
  readonly tgz: string
  readonly bytes: number
  readonly unpacked: number
  readonly files: number
}> {
  const root = readJson<Manifest & { readonly workspaces: string[] }>(join(REPO, 'package.json'))
  const workspaces = new Map(
    root.workspaces.map((w) => [w, readJson<Manifest>(join(REPO, w, 'package.json'))]),
  )
  const lock = readJson<Lockfile>(join(REPO, 'package-lock.json'))
  const cli = workspaces.get('cli') as Manifest
  const declared = Object.keys(cli.bin ?? {}).sort()
  if (declared.join() !== Object.keys(COMMANDS).sort().join())
    throw new ReleaseError(
      `cli/package.json's bin names ${declared.join(', ')}; cli/release/build.ts knows ${Object.keys(COMMANDS).join(', ')}`,
    )
  const dependencies = runtimeDependencies('cli', workspaces, lock)

  rmSync(STAGE, { recursive: true, force: true })
  mkdirSync(join(STAGE, 'bin'), { recursive: true })
  const { metafile } = await build({
    absWorkingDir: REPO,
    entryPoints: Object.fromEntries(Object.values(COMMANDS).map((c) => [c.entry, c.source])),
    outdir: join(STAGE, 'dist'),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    metafile: true,
    logLevel: 'warning',
    plugins: [externals(dependencies), releaseLayout()],
  })

  copyUrlRelativeFiles(Object.keys(metafile.inputs))
  for (const file of readdirSync(join(STAGE, 'dist'))) {
    const text = readFileSync(join(STAGE, 'dist', file), 'utf8')
    if (text.includes(REPO) || text.includes(REPO.replace(/\/$/, '')))
      throw new ReleaseError(
        `dist/${file} holds the repository's path ${REPO}; the release must not read the clone`,
      )
  }

  for (const [page, dir] of [
    ['client-web', installLayout.webDir],
    ['console', installLayout.consoleDir],
  ] as const) {
    if (!existsSync(join(dir, 'index.html')))
      throw new ReleaseError(
        `${dir}/index.html is missing: build the pages first (npm run build:web, npm run build:console)`,
      )
    cpSync(dir, join(STAGE, 'pages', page), { recursive: true })
  }

  const bin: Record<string, string> = {}
  for (const [name, c] of Object.entries(COMMANDS)) {
    const script = join(STAGE, 'bin', `${name}.js`)
    writeFileSync(
      script,
      `#!/usr/bin/env node
import { ${c.run} } from '../dist/${c.entry}.js'
// Exit explicitly: a finished run must not linger on an idle timer or a reconnect attempt.
process.exit(await ${c.run}(process.argv.slice(2)))
`,
    )
    chmodSync(script, 0o755)
    bin[name] = `bin/${name}.js`
  }
  const manifest = releaseManifest({
    cli,
    root,
    dependencies,
    pins: pinnedTree(lock, dependencies),
    bin,
    files: ['bin', 'dist', 'pages', 'npm-shrinkwrap.json'],
  })
  writeFileSync(join(STAGE, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  writeFileSync(
    join(STAGE, 'npm-shrinkwrap.json'),
    `${JSON.stringify(releaseShrinkwrap(manifest, lock, dependencies), null, 2)}\n`,
  )
  cpSync(join(REPO, 'cli/release/README.md'), join(STAGE, 'README.md'))
  cpSync(join(REPO, 'LICENSE'), join(STAGE, 'LICENSE'))

  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', REPO], { cwd: STAGE, encoding: 'utf8' }),
  ) as { filename: string; size: number; unpackedSize: number; entryCount: number }[]
  if (packed === undefined) throw new ReleaseError('npm pack reported no package')
  return {
    tgz: join(REPO, packed.filename),
    bytes: packed.size,
    unpacked: packed.unpackedSize,
    files: packed.entryCount,
  }
}

/**
 * Bundles our workspaces (imported by name, @fedtune/…, resolved through node_modules' links to
 * their .ts sources) and leaves Node's built-ins and every declared dependency external. A package
 * no bundled workspace declares is an error: installed, it would be missing.
 */
function externals(dependencies: readonly RuntimeDependency[]): Plugin {
  const declared = new Set(dependencies.map((d) => d.name))
  return {
    name: 'fedtune-externals',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (isBuiltin(args.path)) return { path: args.path, external: true }
        const parts = args.path.split('/')
        const name = args.path.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string)
        if (name.startsWith('@fedtune/')) return undefined
        if (declared.has(name)) return { path: args.path, external: true }
        return {
          errors: [
            {
              text: `${relative(REPO, args.importer)} imports ${name}, which no workspace the release bundles declares in its package.json dependencies`,
            },
          ],
        }
      })
    },
  }
}

/** Puts release-layout.ts in layout.ts's place, and fails the build if layout.ts was never bundled. */
function releaseLayout(): Plugin {
  return {
    name: 'fedtune-release-layout',
    setup(b) {
      let replaced = false
      b.onLoad({ filter: /[\\/]coordinator[\\/]src[\\/]install[\\/]layout\.ts$/ }, (args) => {
        if (resolve(args.path) !== LAYOUT) return undefined
        replaced = true
        return {
          contents: readFileSync(RELEASE_LAYOUT, 'utf8'),
          loader: 'ts',
          resolveDir: dirname(RELEASE_LAYOUT),
        }
      })
      b.onEnd((result) => {
        if (result.errors.length === 0 && !replaced)
          result.errors.push({
            id: '',
            pluginName: 'fedtune-release-layout',
            text: `${relative(REPO, LAYOUT)} was not bundled: the release cannot find its pages`,
            location: null,
            notes: [],
            detail: undefined,
          })
      })
    },
  }
}

/**
 * A bundled source's `new URL('./file', import.meta.url)` now means a file beside the bundle's
 * chunks (all in dist/): those files are copied there. Any other use of import.meta.url is refused,
 * so a new file lookup cannot quietly point into the clone; `createRequire(import.meta.url)` is
 * fine (it finds packages from the bundle, in the package's own node_modules).
 */
function copyUrlRelativeFiles(inputs: readonly string[]): void {
  const copied = new Map<string, string>()
  for (const input of inputs) {
    const path = join(REPO, input)
    if (path === LAYOUT || !input.endsWith('.ts') || input.includes('node_modules')) continue
    const text = readFileSync(path, 'utf8')
    const uses = text.match(/import\.meta\.url/g)?.length ?? 0
    const files = [...text.matchAll(/new URL\('(\.\/[^'/]+)', import\.meta\.url\)/g)].map(
      (m) => m[1] as string,
    )
    const required = text.match(/createRequire\(import\.meta\.url\)/g)?.length ?? 0
    if (uses !== files.length + required)
      throw new ReleaseError(
        `${input} uses import.meta.url other than as new URL('./<file>', import.meta.url) or createRequire(import.meta.url); make that lookup work from the bundle (docs/release.md)`,
      )
    for (const file of files) {
      const from = join(dirname(path), file)
      const other = copied.get(basename(from))
      if (other !== undefined && other !== from)
        throw new ReleaseError(`${from} and ${other} would both be dist/${basename(from)}`)
      copied.set(basename(from), from)
      cpSync(from, join(STAGE, 'dist', basename(from)))
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = Date.now()
  try {
    const r = await buildRelease()
    const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`
    console.log(
      `${relative(process.cwd(), r.tgz) || r.tgz}: ${mb(r.bytes)} packed, ${mb(r.unpacked)} unpacked, ${r.files} files (built in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
    )
  } catch (error) {
    if (!(error instanceof ReleaseError)) throw error
    process.stderr.write(`npm run release: ${error.message}\n`)
    process.exitCode = 1
  }
}
