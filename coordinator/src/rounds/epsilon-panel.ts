import { formatEpsilon } from '@fedtune/protocol'
import type { RoundRecord } from './round-record.ts'

/** How much taller rounds.svg is for a private run: the ε panel under the metrics. */
export const EPSILON_PANEL_HEIGHT = 130

/** Where the panel goes: under the metrics chart, on its round axis (`x`). */
export type PanelFrame = {
  readonly top: number
  readonly left: number
  readonly plotW: number
  readonly x: (round: number) => number
}

/**
 * A private run's budget under its metrics: ε spent after each round (a failed round that released
 * nothing keeps the level), each point titled with its figure, and the target ε as a dashed line.
 * The axis runs from 0 to a little above the target or the highest ε. null for a run without privacy.
 */
export function epsilonPanel(records: readonly RoundRecord[], frame: PanelFrame): string[] | null {
  const spent = records.flatMap((r) => (r.privacy ? [{ round: r.round, ...r.privacy }] : []))
  const target = spent.at(-1)?.target
  if (target === undefined) return null
  const { top, left, plotW, x } = frame
  const plotH = EPSILON_PANEL_HEIGHT - 40
  const high = Math.max(target, ...spent.map((s) => s.epsilon)) * 1.1
  const y = (epsilon: number) => top + (1 - epsilon / high) * plotH
  const color = '#8c564b'
  const parts = [
    `<text x="${left}" y="${top - 8}" font-weight="bold">privacy budget spent (ε at δ = ${spent[0]?.delta.toExponential(0)})</text>`,
    `<line class="epsilon-zero" x1="${left}" x2="${left + plotW}" y1="${y(0)}" y2="${y(0)}" stroke="#ddd"/>`,
    `<text x="${left - 6}" y="${y(0) + 4}" text-anchor="end">0</text>`,
    `<line class="epsilon-target" x1="${left}" x2="${left + plotW}" y1="${y(target)}" y2="${y(target)}" stroke="#d62728" stroke-dasharray="6 4"/>`,
    `<text x="${left - 6}" y="${y(target) + 4}" text-anchor="end">${formatEpsilon(target)}</text>`,
    `<text x="${left + plotW + 12}" y="${y(target) + 4}" fill="#d62728">target ε</text>`,
  ]
  const points = spent.map((s) => `${x(s.round).toFixed(1)},${y(s.epsilon).toFixed(1)}`)
  if (points.length > 1)
    parts.push(
      `<polyline class="epsilon" fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>`,
    )
  for (const [i, s] of spent.entries()) {
    const [px, py] = (points[i] as string).split(',')
    parts.push(
      `<circle cx="${px}" cy="${py}" r="2.5" fill="${color}"><title>round ${s.round}: ε ${formatEpsilon(s.epsilon)} of ${formatEpsilon(target)}</title></circle>`,
    )
  }
  const last = spent.at(-1)
  if (last)
    parts.push(
      `<text x="${left + plotW + 12}" y="${y(last.epsilon) + 4}" fill="${color}">ε ${formatEpsilon(last.epsilon)}</text>`,
    )
  return parts
}
