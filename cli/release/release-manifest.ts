/**
 * The release package's manifest and its npm-shrinkwrap.json, derived from the workspaces'
 * package.json files and the repository's package-lock.json: nothing here names a third-party package.
 * Pure: the build script (build.ts) reads the files and writes the results.
 */

/** The fields of a package.json this derivation reads. */
export type Manifest = {
  readonly name?: string
  readonly version?: string
  readonly description?: string
  readonly license?: string
  readonly engines?: Readonly<Record<string, string>>
  readonly dependencies?: Readonly<Record<string, string>>
  readonly optionalDependencies?: Readonly<Record<string, string>>
  readonly peerDependencies?: Readonly<Record<string, string>>
  readonly peerDependenciesMeta?: Readonly<Record<string, { readonly optional?: boolean }>>
  /** read by nobody here: the release never holds a devDependency */
  readonly devDependencies?: Readonly<Record<string, string>>
  readonly bin?: Readonly<Record<string, string>>
}

/** One entry of package-lock.json's `packages`, keyed by its folder ("node_modules/x", "coordinator"). */
export type LockEntry = Manifest & {
  readonly link?: boolean
  readonly resolved?: string
  readonly integrity?: string
  readonly dev?: boolean
  readonly optional?: boolean
  readonly devOptional?: boolean
  readonly peer?: boolean
  readonly [field: string]: unknown
}

export type Lockfile = { readonly packages: Readonly<Record<string, LockEntry>> }

/**
 * The TypeScript toolchain: the workspaces run their .ts sources through it in development (tsx in
 * cli/bin); the release runs compiled JavaScript, so it is never a runtime dependency.
 */
export const COMPILED_AWAY: ReadonlySet<string> = new Set(['tsx', 'typescript'])

export class ReleaseError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ReleaseError'
  }
}

/** A third-party package the release needs at run time, where the lockfile has it, and at which version. */
export type RuntimeDependency = {
  readonly name: string
  readonly version: string
  /** its folder in package-lock.json */
  readonly location: string
  /** true when every workspace that declares it does so under optionalDependencies */
  readonly optional: boolean
}

/**
 * The workspaces the release bundles, as folders: `entry` and every workspace it reaches through
 * `dependencies` (optional ones too). `workspaces` maps each workspace folder to its manifest.
 */
export function bundledWorkspaces(entry: string, workspaces: ReadonlyMap<string, Manifest>): string[] {
  const folderOf = new Map([...workspaces].map(([folder, m]) => [m.name, folder]))
  const seen: string[] = []
  const visit = (folder: string) => {
    if (seen.includes(folder)) return
    const manifest = workspaces.get(folder)
    if (manifest === undefined) throw new ReleaseError(`expected a workspace at ${folder}, found none`)
    seen.push(folder)
    for (const name of Object.keys(allDependencies(manifest))) {
      const next = folderOf.get(name)
      if (next !== undefined) visit(next)
    }
  }
  visit(entry)
  return seen
}

/**
 * The third-party packages the bundled workspaces declare (dependencies and optionalDependencies),
 * without the workspaces themselves and the TypeScript toolchain, each at the exact version the
 * lockfile resolves it to from the workspace that declares it. Two workspaces that resolve one
 * package to two versions cannot share one release package: that is an error naming both.
 */
export function runtimeDependencies(
  entry: string,
  workspaces: ReadonlyMap<string, Manifest>,
  lock: Lockfile,
): RuntimeDependency[] {
  const ours = new Set([...workspaces.values()].map((m) => m.name))
  const found = new Map<string, RuntimeDependency & { readonly from: string }>()
  for (const folder of bundledWorkspaces(entry, workspaces)) {
    const manifest = workspaces.get(folder) as Manifest
    const required = manifest.dependencies ?? {}
    for (const name of Object.keys(allDependencies(manifest)).sort()) {
      if (ours.has(name) || COMPILED_AWAY.has(name)) continue
      const location = resolveIn(lock, folder, name)
      const optional = !(name in required)
      if (location === undefined) {
        if (optional) continue
        throw new ReleaseError(
          `${folder}/package.json depends on ${name}, but package-lock.json has no entry for it (run npm install)`,
        )
      }
      const version = lock.packages[location]?.version
      if (version === undefined)
        throw new ReleaseError(`package-lock.json: expected a version for ${location}, found none`)
      const before = found.get(name)
      if (before !== undefined && before.version !== version)
        throw new ReleaseError(
          `${name} resolves to ${before.version} for ${before.from} and to ${version} for ${folder}; one release package holds one version: align the workspaces' ranges`,
        )
      found.set(name, {
        name,
        version,
        location,
        optional: optional && (before?.optional ?? true),
        from: folder,
      })
    }
  }
  return [...found.values()]
    .map(({ from: _, ...dependency }) => dependency)
    .sort((a, b) => a.name.localeCompare(b.name))
}

/** The release package's package.json. */
export function releaseManifest(o: {
  /** the cli workspace's manifest: name, version, description, bin */
  readonly cli: Manifest
  /** the repository's root manifest: license, engines */
  readonly root: Manifest
  readonly dependencies: readonly RuntimeDependency[]
  /** further exact versions to require: pinnedTree's */
  readonly pins?: Readonly<Record<string, string>>
  /** bin name -> the release's script, relative to the package */
  readonly bin: Readonly<Record<string, string>>
  readonly files: readonly string[]
}): Record<string, unknown> {
  const pick = (optional: boolean) =>
    Object.fromEntries(o.dependencies.filter((d) => d.optional === optional).map((d) => [d.name, d.version]))
  if (o.cli.name === undefined || o.cli.version === undefined)
    throw new ReleaseError('cli/package.json: expected a name and a version')
  return {
    name: o.cli.name,
    version: o.cli.version,
    description: o.cli.description,
    license: o.root.license,
    type: 'module',
    bin: o.bin,
    files: o.files,
    engines: o.root.engines,
    dependencies: Object.fromEntries(
      Object.entries({ ...o.pins, ...pick(false) }).sort(([a], [b]) => a.localeCompare(b)),
    ),
    optionalDependencies: pick(true),
  }
}

/**
 * Every package of the dependencies' required tree that sits at the top of its node_modules, at
 * its lockfile version: the release requires them all, exactly. npm honours a package's
 * npm-shrinkwrap.json only when it comes from a registry, not for a tarball installed from a file
 * (npm/cli#5325): without these pins `npm install -g ./fedtune-<v>.tgz` resolves the transitive
 * packages afresh within their ranges, to versions the tests never ran. With them npm places each
 * at the top at the pinned version and every dependent whose range it satisfies shares it, as in the
 * lockfile; only the few copies the lockfile nests deeper are resolved within their ranges.
 */
export function pinnedTree(lock: Lockfile, roots: readonly RuntimeDependency[]): Record<string, string> {
  const { packages } = releaseShrinkwrap({}, lock, roots) as {
    packages: Record<string, { version?: string; optional?: boolean }>
  }
  const pins: [string, string][] = []
  for (const [at, entry] of Object.entries(packages)) {
    const name = at.slice('node_modules/'.length)
    if (at === '' || name.includes('/node_modules/') || entry.optional === true) continue
    if (entry.version === undefined) throw new ReleaseError(`package-lock.json: expected a version for ${at}`)
    pins.push([name, entry.version])
  }
  return Object.fromEntries(pins.sort(([a], [b]) => a.localeCompare(b)))
}

/**
 * npm-shrinkwrap.json for the release: the root's dependencies and everything they reach, as the
 * repository's lockfile has them (folder, version, integrity), so an install gets the versions
 * the tests ran with. An entry the lockfile keeps under a workspace (coordinator/node_modules/x)
 * moves to the package's own node_modules; flags are recomputed for the release (nothing is dev;
 * optional is what only optional dependencies reach).
 */
export function releaseShrinkwrap(
  manifest: Record<string, unknown>,
  lock: Lockfile,
  roots: readonly RuntimeDependency[],
): Record<string, unknown> {
  const reached = new Map<string, boolean>() // location -> reached only through optional edges
  const queue: [string, boolean][] = roots.map((d) => [d.location, d.optional])
  while (queue.length > 0) {
    const [location, optional] = queue.shift() as [string, boolean]
    const before = reached.get(location)
    if (before !== undefined && (before === false || optional)) continue
    reached.set(location, optional)
    const entry = lock.packages[location] as LockEntry
    const optionalPeers = entry.peerDependenciesMeta ?? {}
    const edges: [string, boolean][] = [
      ...Object.keys(entry.dependencies ?? {}).map((n): [string, boolean] => [n, false]),
      ...Object.keys(entry.peerDependencies ?? {})
        .filter((n) => optionalPeers[n]?.optional !== true)
        .map((n): [string, boolean] => [n, false]),
      ...Object.keys(entry.optionalDependencies ?? {}).map((n): [string, boolean] => [n, true]),
    ]
    for (const [name, edgeOptional] of edges) {
      const next = resolveIn(lock, location, name)
      if (next === undefined) {
        if (edgeOptional) continue
        throw new ReleaseError(`package-lock.json: ${location} depends on ${name}, which it does not hold`)
      }
      if (lock.packages[next]?.link === true)
        throw new ReleaseError(`${location} depends on the workspace ${name}; a third-party package cannot`)
      queue.push([next, optional || edgeOptional])
    }
  }
  const root = Object.fromEntries(
    ['name', 'version', 'license', 'bin', 'dependencies', 'optionalDependencies', 'engines'].map((k) => [
      k,
      manifest[k],
    ]),
  )
  const packages: Record<string, unknown> = { '': root }
  const placed = new Map<string, string>()
  for (const [location, optional] of [...reached].sort(([a], [b]) => a.localeCompare(b))) {
    const at = location.slice(location.indexOf('node_modules/'))
    const other = placed.get(at)
    if (other !== undefined)
      throw new ReleaseError(
        `${other} and ${location} would both be ${at} in the release; align the workspaces' ranges`,
      )
    placed.set(at, location)
    const {
      dev: _d,
      devOptional: _o,
      optional: _p,
      peer: _q,
      ...entry
    } = lock.packages[location] as LockEntry
    packages[at] = optional ? { ...entry, optional: true } : entry
  }
  return { name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true, packages }
}

/**
 * Where Node finds `name` from the package at `from` (a lockfile folder): its own node_modules,
 * then each enclosing node_modules up to the root's.
 */
export function resolveIn(lock: Lockfile, from: string, name: string): string | undefined {
  let base = from
  for (;;) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`
    if (lock.packages[candidate] !== undefined) return candidate
    if (base === '') return undefined
    const cut = base.lastIndexOf('/node_modules/')
    base = cut < 0 ? '' : base.slice(0, cut)
  }
}

function allDependencies(m: Manifest): Record<string, string> {
  return { ...m.optionalDependencies, ...m.dependencies }
}
