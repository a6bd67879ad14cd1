import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import {
  bundledWorkspaces,
  type Lockfile,
  type Manifest,
  pinnedTree,
  ReleaseError,
  releaseManifest,
  releaseShrinkwrap,
  runtimeDependencies,
} from '../../cli/release/release-manifest.ts'

/** A small repository: cli -> coordinator -> protocol, and a page workspace nothing of the cli reaches. */
function repository(): { workspaces: Map<string, Manifest>; lock: Lockfile } {
  const workspaces = new Map<string, Manifest>([
    [
      'cli',
      {
        name: 'fedtune',
        version: '1.2.3',
        description: 'the command',
        bin: { fedtune: './bin/fedtune.js' },
        dependencies: { '@fedtune/coordinator': '1.2.3', tsx: '4.0.0', pngjs: '7.0.0' },
        devDependencies: { vitest: '^4.0.0' },
      },
    ],
    [
      'coordinator',
      {
        name: '@fedtune/coordinator',
        version: '1.2.3',
        dependencies: { '@fedtune/protocol': '1.2.3', fastify: '^5.1.0', zod: '^4.0.0', tsx: '4.0.0' },
        optionalDependencies: { 'native-speed': '2.0.0' },
      },
    ],
    ['protocol', { name: '@fedtune/protocol', version: '1.2.3', dependencies: { tweetnacl: '^1.0.0' } }],
    [
      'console',
      {
        name: '@fedtune/console',
        version: '1.2.3',
        dependencies: { '@fedtune/protocol': '1.2.3', vite: '8.0.0' },
      },
    ],
  ])
  const lock: Lockfile = {
    packages: {
      '': { name: 'workspace' },
      cli: { name: 'fedtune', version: '1.2.3' },
      coordinator: { name: '@fedtune/coordinator', version: '1.2.3' },
      protocol: { name: '@fedtune/protocol', version: '1.2.3' },
      console: { name: '@fedtune/console', version: '1.2.3' },
      'node_modules/fedtune': { resolved: 'cli', link: true },
      'node_modules/@fedtune/coordinator': { resolved: 'coordinator', link: true },
      'node_modules/@fedtune/protocol': { resolved: 'protocol', link: true },
      'node_modules/@fedtune/console': { resolved: 'console', link: true },
      'node_modules/fastify': { version: '5.1.2', integrity: 'sha512-f', dependencies: { pino: '^9.0.0' } },
      'node_modules/pino': { version: '9.3.0', integrity: 'sha512-p', dependencies: { debug: '^4.0.0' } },
      'node_modules/pino/node_modules/debug': { version: '4.4.0', integrity: 'sha512-d4' },
      'node_modules/debug': { version: '2.6.9', integrity: 'sha512-d2', dev: true },
      'node_modules/zod': { version: '3.25.0', integrity: 'sha512-z3', dev: true },
      'coordinator/node_modules/zod': { version: '4.1.0', integrity: 'sha512-z4' },
      'node_modules/tweetnacl': { version: '1.0.3', integrity: 'sha512-t' },
      'node_modules/pngjs': { version: '7.0.0', integrity: 'sha512-png' },
      'node_modules/tsx': { version: '4.0.0', dev: true, dependencies: { esbuild: '~0.28.0' } },
      'node_modules/esbuild': { version: '0.28.2', dev: true },
      'node_modules/vite': { version: '8.0.0', dependencies: { rolldown: '1.0.0' } },
      'node_modules/rolldown': { version: '1.0.0' },
      'node_modules/native-speed': {
        version: '2.0.0',
        optional: true,
        hasInstallScript: true,
        dependencies: { 'node-pre-gyp': '1.0.0' },
      },
      'node_modules/node-pre-gyp': { version: '1.0.0', optional: true },
    },
  }
  return { workspaces, lock }
}

describe("the release's dependencies", () => {
  it('are the workspaces the command reaches, never a page workspace', () => {
    const { workspaces } = repository()
    expect(bundledWorkspaces('cli', workspaces)).toEqual(['cli', 'coordinator', 'protocol'])
  })

  it("are every third-party package those workspaces declare, at the lockfile's exact version", () => {
    const { workspaces, lock } = repository()
    expect(runtimeDependencies('cli', workspaces, lock)).toEqual([
      { name: 'fastify', version: '5.1.2', location: 'node_modules/fastify', optional: false },
      { name: 'native-speed', version: '2.0.0', location: 'node_modules/native-speed', optional: true },
      { name: 'pngjs', version: '7.0.0', location: 'node_modules/pngjs', optional: false },
      { name: 'tweetnacl', version: '1.0.3', location: 'node_modules/tweetnacl', optional: false },
      // the coordinator's zod is the one the lockfile keeps under coordinator/, not the root's 3.x
      { name: 'zod', version: '4.1.0', location: 'coordinator/node_modules/zod', optional: false },
    ])
  })

  it('hold no workspace package, no TypeScript toolchain, no devDependency and nothing only a page uses', () => {
    const { workspaces, lock } = repository()
    const names = runtimeDependencies('cli', workspaces, lock).map((d) => d.name)
    for (const absent of ['@fedtune/coordinator', '@fedtune/protocol', 'tsx', 'esbuild', 'vitest', 'vite'])
      expect(names).not.toContain(absent)
  })

  it('keep a package optional only while no bundled workspace requires it', () => {
    const { workspaces, lock } = repository()
    const protocol = workspaces.get('protocol') as Manifest
    workspaces.set('protocol', {
      ...protocol,
      dependencies: { ...protocol.dependencies, 'native-speed': '2.0.0' },
    })
    expect(
      runtimeDependencies('cli', workspaces, lock).find((d) => d.name === 'native-speed')?.optional,
    ).toBe(false)
  })

  it('refuse one package at two versions, naming both workspaces', () => {
    const { workspaces, lock } = repository()
    const protocol = workspaces.get('protocol') as Manifest
    workspaces.set('protocol', { ...protocol, dependencies: { ...protocol.dependencies, zod: '^3.0.0' } })
    expect(() => runtimeDependencies('cli', workspaces, lock)).toThrow(
      /zod resolves to 4\.1\.0 for coordinator and to 3\.25\.0 for protocol/,
    )
  })

  it('refuse a required package the lockfile does not hold', () => {
    const { workspaces, lock } = repository()
    const { 'node_modules/tweetnacl': _, ...packages } = lock.packages
    expect(() => runtimeDependencies('cli', workspaces, { packages })).toThrow(ReleaseError)
    expect(() => runtimeDependencies('cli', workspaces, { packages })).toThrow(
      /protocol\/package.json depends on tweetnacl/,
    )
  })
})

describe("the release's package.json", () => {
  it("is the cli's name, version and commands with the derived dependencies, split into required and optional", () => {
    const { workspaces, lock } = repository()
    const manifest = releaseManifest({
      cli: workspaces.get('cli') as Manifest,
      root: { license: 'Apache-2.0', engines: { node: '>=20.19' } },
      dependencies: runtimeDependencies('cli', workspaces, lock),
      bin: { fedtune: 'bin/fedtune.js' },
      files: ['bin', 'dist'],
    })
    expect(manifest).toEqual({
      name: 'fedtune',
      version: '1.2.3',
      description: 'the command',
      license: 'Apache-2.0',
      type: 'module',
      bin: { fedtune: 'bin/fedtune.js' },
      files: ['bin', 'dist'],
      engines: { node: '>=20.19' },
      dependencies: { fastify: '5.1.2', pngjs: '7.0.0', tweetnacl: '1.0.3', zod: '4.1.0' },
      optionalDependencies: { 'native-speed': '2.0.0' },
    })
  })
})

describe("the release's npm-shrinkwrap.json", () => {
  const shrinkwrap = () => {
    const { workspaces, lock } = repository()
    const dependencies = runtimeDependencies('cli', workspaces, lock)
    const manifest = releaseManifest({
      cli: workspaces.get('cli') as Manifest,
      root: {},
      dependencies,
      bin: {},
      files: [],
    })
    return releaseShrinkwrap(manifest, lock, dependencies) as {
      packages: Record<string, Record<string, unknown>>
    }
  }

  it("holds the dependencies' whole tree as the lockfile has it, and nothing else", () => {
    expect(Object.keys(shrinkwrap().packages).sort()).toEqual([
      '',
      'node_modules/fastify',
      'node_modules/native-speed',
      'node_modules/node-pre-gyp',
      'node_modules/pino',
      'node_modules/pino/node_modules/debug',
      'node_modules/pngjs',
      'node_modules/tweetnacl',
      'node_modules/zod',
    ])
  })

  it("moves a workspace's own copy of a package to the package's node_modules, with its version and integrity", () => {
    expect(shrinkwrap().packages['node_modules/zod']).toEqual({ version: '4.1.0', integrity: 'sha512-z4' })
  })

  it('marks nothing dev, and optional exactly what only optional dependencies reach', () => {
    const { packages } = shrinkwrap()
    expect(Object.values(packages).filter((e) => e.dev !== undefined)).toEqual([])
    expect(
      Object.entries(packages)
        .filter(([, e]) => e.optional === true)
        .map(([k]) => k),
    ).toEqual(['node_modules/native-speed', 'node_modules/node-pre-gyp'])
  })

  it('refuses two lockfile entries that would land in one folder', () => {
    const { workspaces, lock } = repository()
    const packages = {
      ...lock.packages,
      'node_modules/tweetnacl': { version: '1.0.3', dependencies: { zod: '^3.0.0' } },
    }
    const dependencies = runtimeDependencies('cli', workspaces, { packages })
    expect(() => releaseShrinkwrap({ name: 'fedtune' }, { packages }, dependencies)).toThrow(
      /coordinator\/node_modules\/zod and node_modules\/zod would both be node_modules\/zod/,
    )
  })
})

describe('the pins', () => {
  it("require every required package at the top of the tree at the lockfile's version, since npm installs a file tarball without its shrinkwrap", () => {
    const { workspaces, lock } = repository()
    expect(pinnedTree(lock, runtimeDependencies('cli', workspaces, lock))).toEqual({
      fastify: '5.1.2',
      pino: '9.3.0',
      pngjs: '7.0.0',
      tweetnacl: '1.0.3',
      zod: '4.1.0',
    })
  })

  it("join the package.json's dependencies, whose own versions stay those derived", () => {
    const { workspaces, lock } = repository()
    const dependencies = runtimeDependencies('cli', workspaces, lock)
    const manifest = releaseManifest({
      cli: workspaces.get('cli') as Manifest,
      root: {},
      dependencies,
      pins: { pino: '9.3.0', zod: '3.0.0' },
      bin: {},
      files: [],
    })
    expect(manifest.dependencies).toEqual({
      fastify: '5.1.2',
      pino: '9.3.0',
      pngjs: '7.0.0',
      tweetnacl: '1.0.3',
      zod: '4.1.0',
    })
    expect(manifest.optionalDependencies).toEqual({ 'native-speed': '2.0.0' })
  })
})

describe("this repository's release", () => {
  const repo = fileURLToPath(new URL('../../', import.meta.url))
  const read = <T>(path: string): T => JSON.parse(readFileSync(join(repo, path), 'utf8')) as T
  const root = read<{ workspaces: string[] }>('package.json')
  const workspaces = new Map(root.workspaces.map((w) => [w, read<Manifest>(`${w}/package.json`)]))
  const lock = read<Lockfile>('package-lock.json')

  it('depends, at exact versions, on third-party packages only, with no TypeScript toolchain or page tooling', () => {
    const dependencies = runtimeDependencies('cli', workspaces, lock)
    expect(dependencies.length).toBeGreaterThan(0)
    for (const d of dependencies) {
      expect(d.version, d.name).toMatch(/^\d+\.\d+\.\d+(-[\w.]+)?$/)
      expect(d.name).not.toMatch(/^(@fedtune\/|fedtune$|tsx$|typescript$|vite$|preact$|uplot$|esbuild$)/)
    }
  })

  it('shrinkwraps a tree in which every required package has its required dependencies', () => {
    const dependencies = runtimeDependencies('cli', workspaces, lock)
    const { packages } = releaseShrinkwrap({ name: 'fedtune' }, lock, dependencies) as {
      packages: Record<string, { dependencies?: Record<string, string>; optional?: boolean }>
    }
    for (const d of dependencies.filter((d) => !d.optional))
      expect(packages[`node_modules/${d.name}`], d.name).toBeDefined()
    expect(Object.keys(packages)).not.toContain('node_modules/tsx')
    expect(Object.keys(packages)).not.toContain('node_modules/vite')
  })
})
