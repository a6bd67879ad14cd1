import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/** The layout rules of STYLE.md that a compiler does not check, checked on every run. */
const repo = fileURLToPath(new URL('../', import.meta.url))

function sources(dir: string): string[] {
  return readdirSync(join(repo, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') || f.endsWith('.tsx'))
    .map((f) => join(dir, f))
}

/** Every relative import and re-export of a file, type-only ones included, as repository paths. */
function importsOf(file: string): { relative: string[]; packages: string[] } {
  const text = readFileSync(join(repo, file), 'utf8')
  const specs = [...text.matchAll(/(?:import|export)\s[^'";]*?from\s+'([^']+)'|import\('([^']+)'\)/g)].map(
    (m) => (m[1] ?? m[2]) as string,
  )
  return {
    relative: specs.filter((s) => s.startsWith('.')).map((s) => normalize(join(dirname(file), s))),
    packages: specs.filter((s) => !s.startsWith('.')),
  }
}

function cycles(files: readonly string[]): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f).relative]))
  const found: string[][] = []
  const done = new Set<string>()
  const visit = (file: string, path: string[]) => {
    const at = path.indexOf(file)
    if (at >= 0) {
      found.push([...path.slice(at), file])
      return
    }
    if (done.has(file)) return
    for (const next of graph.get(file) ?? []) visit(next, [...path, file])
    done.add(file)
  }
  for (const file of files) visit(file, [])
  return found
}

describe('the architecture', () => {
  for (const dir of [
    'protocol/src',
    'coordinator/src',
    'client-node/src',
    'client-web/src',
    'console/src',
    'model/src',
  ]) {
    it(`${dir} has no import cycle, type-only imports included`, () => {
      expect(cycles(sources(dir)).map((c) => c.map((f) => relative(dir, f)).join(' → '))).toEqual([])
    })
  }

  it('protocol depends on no package of ours', () => {
    const ours = sources('protocol/src').flatMap((f) =>
      importsOf(f).packages.filter((p) => p.startsWith('@fedtune/') || p === 'fedtune'),
    )
    expect(ours).toEqual([])
  })

  it('the coordinator’s sources sit in folders by part, with only the composition root and entry points at the top', () => {
    const top = readdirSync(join(repo, 'coordinator/src')).filter((f) => f.endsWith('.ts'))
    expect(top.sort()).toEqual(['index.ts', 'start.ts'])
  })

  it('coordinator, client-node and client-web depend on none of each other', () => {
    const apps = ['coordinator', 'client-node', 'client-web'] as const
    for (const app of apps) {
      const others = apps.filter((a) => a !== app).map((a) => `@fedtune/${a}`)
      const used = sources(`${app}/src`).flatMap((f) =>
        importsOf(f).packages.filter((p) => others.some((o) => p === o || p.startsWith(`${o}/`))),
      )
      expect(used, app).toEqual([])
    }
  })
})
