import { EPSILON_PANEL_HEIGHT, epsilonPanel } from './epsilon-panel.ts'
import type { RoundRecord } from './round-record.ts'

/**
 * The run at a glance: the global head's accuracy and AUC on the coordinator's validation and test
 * sets and the participants' pooled accuracy of the head they received, per round, as a self-contained SVG (no
 * script, no external assets) that any browser or image viewer opens. Failed rounds are marked on
 * the axis, the best round by validation with a star. A private run has a panel below: ε spent per
 * round against the target (epsilon-panel.ts).
 */
export function roundChart(records: readonly RoundRecord[], title: string): string {
  const width = 640
  const height = 320
  const left = 48
  const right = 130
  const top = 36
  const bottom = 40
  const plotW = width - left - right
  const plotH = height - top - bottom
  const rounds = Math.max(1, ...records.map((r) => r.round))
  const x = (round: number) => left + (rounds === 1 ? plotW / 2 : ((round - 1) / (rounds - 1)) * plotW)
  const series: {
    label: string
    color: string
    dash: string
    pick: (r: RoundRecord) => number | null | undefined
  }[] = [
    { label: 'val ACC', color: '#9467bd', dash: '2 3', pick: (r) => r.validation?.accuracy },
    { label: 'val AUC', color: '#ff7f0e', dash: '2 3', pick: (r) => r.validation?.auc },
    { label: 'test ACC', color: '#1f77b4', dash: '', pick: (r) => r.test?.accuracy },
    { label: 'test AUC', color: '#d62728', dash: '', pick: (r) => r.test?.auc },
    { label: 'participants ACC', color: '#2ca02c', dash: '5 4', pick: (r) => r.participants?.accuracy },
  ]
  // The axis starts a little below the lowest value (rounded down to 0.1), so changes stay visible.
  const values = records.flatMap((r) => series.map((s) => s.pick(r) ?? 1))
  const low = Math.max(0, Math.floor((Math.min(1, ...values) - 0.02) * 10) / 10)
  const y = (v: number) => top + ((1 - v) / (1 - low)) * plotH
  const epsilon = epsilonPanel(records, { top: height + 20, left, plotW, x })
  const total = epsilon ? height + EPSILON_PANEL_HEIGHT : height
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${total}" viewBox="0 0 ${width} ${total}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${total}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ]
  const tick = 1 - low > 0.5 ? 0.25 : 1 - low > 0.2 ? 0.1 : 0.05
  for (let v = 1; v >= low - 1e-9; v -= tick) {
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`)
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`)
  }
  const step = Math.max(1, Math.ceil(rounds / 10))
  for (let r = 1; r <= rounds; r += step)
    parts.push(`<text x="${x(r)}" y="${top + plotH + 16}" text-anchor="middle">${r}</text>`)
  parts.push(`<text x="${left + plotW / 2}" y="${height - 6}" text-anchor="middle">round</text>`)
  for (const r of records)
    if (r.status === 'failed')
      parts.push(
        `<text x="${x(r.round)}" y="${top + plotH - 4}" text-anchor="middle" fill="#d62728">✕</text>`,
      )
  const best = records.at(-1)?.best
  if (best)
    parts.push(`<text x="${x(best.round)}" y="${top - 4}" text-anchor="middle" fill="#9467bd">★ best</text>`)
  series.forEach((s, i) => {
    const points = records.flatMap((r) => {
      const v = s.pick(r)
      return v === null || v === undefined ? [] : [`${x(r.round).toFixed(1)},${y(v).toFixed(1)}`]
    })
    if (points.length > 1)
      parts.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${points.join(' ')}"/>`,
      )
    for (const p of points) {
      const [px, py] = p.split(',')
      parts.push(`<circle cx="${px}" cy="${py}" r="2.5" fill="${s.color}"/>`)
    }
    const ly = top + 10 + i * 18
    parts.push(
      `<line x1="${left + plotW + 12}" x2="${left + plotW + 32}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
    )
    parts.push(`<text x="${left + plotW + 36}" y="${ly + 4}">${s.label}</text>`)
  })
  if (epsilon) parts.push(...epsilon)
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}

function escapeXml(text: string): string {
  return text.replace(
    /[&<>"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string,
  )
}
