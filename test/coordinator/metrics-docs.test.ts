import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { coordinatorMetrics } from '@fedtune/coordinator/metrics'
import { describe, expect, it } from 'vitest'

/** docs/metrics.md and docs/grafana-dashboard.json say what the coordinator registers, no more and no less. */

const docs = fileURLToPath(new URL('../../docs/', import.meta.url))
const registered = coordinatorMetrics(() => []).registry.getMetricsAsArray()
const types = new Map(registered.map((m) => [m.name, String(m.type)]))

/** PromQL's words that are not metric names: aggregation clauses, operators, modifiers. */
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
])

/**
 * Every metric name a PromQL expression selects: its identifiers once strings, label matchers, range
 * selectors, grouping clauses, Grafana variables and numbers are taken out, less function calls and
 * keywords. `label_values(metric, label)` (a Grafana template query) names its first argument.
 */
function metricNames(expr: string): string[] {
  const values = /^label_values\(\s*([^,{)]+)/.exec(expr.trim())
  if (values) return [(values[1] as string).trim()]
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, ' ')
    .replace(/\$[A-Za-z_]\w*/g, ' ')
    .replace(/\b\d+(\.\d+)?(e\d+)?\b/g, ' ')
  const names: string[] = []
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = stripped.slice((m.index ?? 0) + m[0].length).trimStart()
    if (after.startsWith('(') || KEYWORDS.has(m[0])) continue
    names.push(m[0])
  }
  return names
}

/** Whether `name` is a series the registry exposes: a metric, or a histogram's _bucket, _sum or _count. */
function exposes(name: string): boolean {
  if (types.has(name)) return true
  const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1]
  return base !== undefined && (types.get(base) === 'histogram' || types.get(base) === 'summary')
}

describe('docs/grafana-dashboard.json', () => {
  const dashboard = JSON.parse(readFileSync(`${docs}grafana-dashboard.json`, 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[]
    templating: { list: { query: string | { query: string } }[] }
  }
  const queries = [
    ...dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: p.title, expr: t.expr }))),
    ...dashboard.templating.list.map((v) => ({
      where: 'templating',
      expr: typeof v.query === 'string' ? v.query : v.query.query,
    })),
  ]

  it('reads the names out of PromQL as Prometheus would', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le, stage) (rate(fedtune_stage_duration_seconds_bucket{task=~"$task", stage!="x{y}"}[30m])))',
      ),
    ).toEqual(['fedtune_stage_duration_seconds_bucket'])
    expect(
      metricNames('sum by (task) (rate(a_sum[5m])) / sum without (le) (rate(a_count[$__rate_interval]))'),
    ).toEqual(['a_sum', 'a_count'])
    expect(metricNames('process_resident_memory_bytes / 1e9')).toEqual(['process_resident_memory_bytes'])
    expect(metricNames('label_values(fedtune_rounds_total, task)')).toEqual(['fedtune_rounds_total'])
  })

  it('has panels for rounds, stage durations, participants online, dropouts, bytes and refusals', () => {
    const used = new Set(queries.flatMap((q) => metricNames(q.expr)))
    for (const name of [
      'fedtune_rounds_total',
      'fedtune_stage_duration_seconds_bucket',
      'fedtune_participants_online',
      'fedtune_dropouts_total',
      'fedtune_bytes_total',
      'fedtune_refused_messages_total',
    ])
      expect(used, name).toContain(name)
  })

  it('queries only metrics the coordinator registers', () => {
    const unknown = queries.flatMap((q) =>
      metricNames(q.expr)
        .filter((n) => !exposes(n))
        .map((n) => `${q.where}: ${n}`),
    )
    expect(unknown).toEqual([])
    expect(queries.length).toBeGreaterThan(10)
  })
})

describe('docs/metrics.md', () => {
  it('lists exactly the fedtune_ metrics registered, each with its type', () => {
    const text = readFileSync(`${docs}metrics.md`, 'utf8')
    const rows = [...text.matchAll(/^\| `(fedtune_[a-z_]+)` \| (counter|gauge|histogram|summary) \|/gm)].map(
      (m) => [m[1], m[2]],
    )
    const ours = registered.filter((m) => m.name.startsWith('fedtune_')).map((m) => [m.name, String(m.type)])
    expect(rows.sort()).toEqual(ours.sort())
    expect(ours.length).toBeGreaterThanOrEqual(9)
  })

  it('names only process metrics the coordinator registers', () => {
    const text = readFileSync(`${docs}metrics.md`, 'utf8')
    const named = [...text.matchAll(/`((?:process|nodejs)_[a-z_]+)`/g)].map((m) => m[1] as string)
    expect(named.length).toBeGreaterThan(0)
    expect(named.filter((n) => !types.has(n))).toEqual([])
  })
})
