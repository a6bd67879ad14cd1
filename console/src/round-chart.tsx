import type { BestRoundView, RoundEntry } from '@fedtune/protocol'
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { BEST_METRIC_NAMES, metric } from './format.ts'

const FAILED = '#c0392b'
const BEST = '#1f7a3a'

/** A line of the chart: what it draws of each aggregated round. */
type Line = {
  readonly label: string
  readonly stroke: string
  readonly dash?: number[]
  readonly pick: (e: RoundEntry) => number | null | undefined
}

/** Every line the chart may draw; it draws those with a point, in this order (the legend's). */
const LINES: readonly Line[] = [
  { label: 'validation ACC', stroke: '#1f6feb', pick: (e) => e.validation?.accuracy },
  { label: 'validation AUC', stroke: '#2da44e', pick: (e) => e.validation?.auc },
  { label: 'test ACC', stroke: '#8250df', dash: [8, 3], pick: (e) => e.test?.accuracy },
  { label: 'test AUC', stroke: '#bf8700', dash: [8, 3], pick: (e) => e.test?.auc },
  {
    label: "participants' pooled ACC",
    stroke: '#d1477a',
    dash: [2, 3],
    pick: (e) => e.participants?.accuracy,
  },
]

/** Without a set's figures (a round record from before there were sets): the held-out ACC and AUC. */
const HELD_OUT: readonly Line[] = [
  { label: 'ACC', stroke: '#1f6feb', pick: (e) => e.accuracy },
  { label: 'AUC', stroke: '#2da44e', pick: (e) => e.auc },
]

/** The lines with at least one point in the timeline. */
export function chartLines(timeline: readonly RoundEntry[]): readonly Line[] {
  const drawn = LINES.filter((l) =>
    timeline.some((e) => e.status === 'aggregated' && typeof l.pick(e) === 'number'),
  )
  return drawn.length > 0 ? drawn : HELD_OUT
}

/** The chart's columns: rounds, each line's figure (null: none), then the majority class's accuracy. */
export function chartData(timeline: readonly RoundEntry[], lines: readonly Line[]): uPlot.AlignedData {
  const rounds = timeline.map((e) => e.round)
  const of = (line: Line) => timeline.map((e) => (e.status === 'aggregated' ? (line.pick(e) ?? null) : null))
  return [rounds, ...lines.map(of), timeline.map((e) => e.majority)]
}

/**
 * The global head's figures per round (uPlot): on the validation and test sets where the
 * coordinator has them, the participants' pooled accuracy, the majority-class line a head must
 * beat; the best round by the validation metric marked by a green line, and each failed round by a
 * red one, its reason listed below the chart.
 */
export function RoundChart({
  timeline,
  rounds,
  best,
}: {
  timeline: readonly RoundEntry[]
  rounds: number
  best: BestRoundView | null
}) {
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const failed = timeline.filter((e) => e.status === 'failed')
  const marks = useRef<{ failed: readonly number[]; best: number | null }>({ failed: [], best: null })
  marks.current = { failed: failed.map((e) => e.round), best: best?.round ?? null }
  const last = Math.max(rounds, timeline.at(-1)?.round ?? 1, 1)
  const lines = chartLines(timeline)
  const linesKey = lines.map((l) => l.label).join('|')

  useEffect(() => {
    const el = box.current
    if (el === null) return
    const width = () => Math.max(280, el.clientWidth)
    const mark = (u: uPlot, round: number, color: string, dash: number[]) => {
      const { ctx } = u
      const x = u.valToPos(round, 'x', true)
      ctx.strokeStyle = color
      ctx.setLineDash(dash)
      ctx.lineWidth = 2
      ctx.beginPath()
      ctx.moveTo(x, u.bbox.top)
      ctx.lineTo(x, u.bbox.top + u.bbox.height)
      ctx.stroke()
      return x
    }
    const u = new uPlot(
      {
        width: width(),
        height: 240,
        scales: { x: { time: false, range: () => [0.5, last + 0.5] }, y: { range: [0, 1] } },
        axes: [{ label: 'round', incrs: [1, 2, 5, 10, 20, 50, 100] }, { label: 'held-out' }],
        series: [
          { label: 'round' },
          ...lines.map((l) => ({
            label: l.label,
            stroke: l.stroke,
            width: 2,
            ...(l.dash ? { dash: l.dash } : {}),
            points: { show: true, size: 6 },
          })),
          { label: 'majority class', stroke: '#888', dash: [6, 4], points: { show: false } },
        ],
        hooks: {
          draw: [
            (u) => {
              const { ctx } = u
              ctx.save()
              for (const r of marks.current.failed) mark(u, r, FAILED, [3, 3])
              const b = marks.current.best
              if (b !== null) {
                const x = mark(u, b, BEST, [])
                ctx.fillStyle = BEST
                ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`
                ctx.fillText('best', x + 4 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio)
              }
              ctx.restore()
            },
          ],
        },
      },
      chartData([], lines),
      el,
    )
    plot.current = u
    const resized = new ResizeObserver(() => u.setSize({ width: width(), height: 240 }))
    resized.observe(el)
    return () => {
      resized.disconnect()
      u.destroy()
      plot.current = null
    }
  }, [last, linesKey])

  useEffect(() => {
    plot.current?.setData(chartData(timeline, chartLines(timeline)))
  }, [timeline, last, linesKey, best?.round])

  const points = timeline.filter((e) => e.status === 'aggregated' && e.accuracy !== null).length
  const bestEntry = best && timeline.find((e) => e.round === best.round)
  return (
    <figure class="chart">
      <div
        ref={box}
        id="chart"
        data-points={points}
        data-failed={failed.length}
        data-best={best?.round ?? ''}
        data-lines={linesKey}
      />
      <figcaption>
        The global head's accuracy and AUC per round on the coordinator's sets, and the participants' pooled
        accuracy of the head they received at each round's start; the dashed grey line is always answering the
        majority class.
        {best !== null && (
          <span id="chart-best">
            {' '}
            The green line marks round {best.round}, the best so far by validation{' '}
            {BEST_METRIC_NAMES[best.metric]} ({metric(best.value)}
            {bestEntry?.test
              ? `; test ACC ${metric(bestEntry.test.accuracy)}, AUC ${metric(bestEntry.test.auc)}`
              : ''}
            ).
          </span>
        )}
      </figcaption>
      {failed.length > 0 && (
        <ul class="failed">
          {failed.map((e) => (
            <li key={e.round}>
              Round {e.round} failed: {e.reason ?? 'no reason recorded'}
            </li>
          ))}
        </ul>
      )}
    </figure>
  )
}
