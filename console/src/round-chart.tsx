import type { RoundEntry } from '@fedtune/protocol'
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

const FAILED = '#c0392b'

/** The chart's columns: rounds, then held-out ACC, AUC and the majority class's accuracy (null: none). */
export function chartData(timeline: readonly RoundEntry[]): uPlot.AlignedData {
  const rounds = timeline.map((e) => e.round)
  const of = (pick: (e: RoundEntry) => number | null) =>
    timeline.map((e) => (e.status === 'aggregated' ? pick(e) : null))
  return [rounds, of((e) => e.accuracy), of((e) => e.auc), timeline.map((e) => e.majority)]
}

/**
 * Held-out ACC and AUC per round (uPlot), the majority-class line a head must beat, and each failed
 * round marked by a red line, its reason listed below the chart.
 */
export function RoundChart({ timeline, rounds }: { timeline: readonly RoundEntry[]; rounds: number }) {
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const failed = timeline.filter((e) => e.status === 'failed')
  const failedRounds = useRef<readonly number[]>([])
  failedRounds.current = failed.map((e) => e.round)
  const last = Math.max(rounds, timeline.at(-1)?.round ?? 1, 1)

  useEffect(() => {
    const el = box.current
    if (el === null) return
    const width = () => Math.max(280, el.clientWidth)
    const u = new uPlot(
      {
        width: width(),
        height: 240,
        scales: { x: { time: false, range: () => [0.5, last + 0.5] }, y: { range: [0, 1] } },
        axes: [{ label: 'round', incrs: [1, 2, 5, 10, 20, 50, 100] }, { label: 'held-out' }],
        series: [
          { label: 'round' },
          { label: 'ACC', stroke: '#1f6feb', width: 2, points: { show: true, size: 7 } },
          { label: 'AUC', stroke: '#2da44e', width: 2, points: { show: true, size: 7 } },
          { label: 'majority class', stroke: '#888', dash: [6, 4], points: { show: false } },
        ],
        hooks: {
          draw: [
            (u) => {
              const { ctx } = u
              ctx.save()
              ctx.strokeStyle = FAILED
              ctx.setLineDash([3, 3])
              ctx.lineWidth = 2
              for (const r of failedRounds.current) {
                const x = u.valToPos(r, 'x', true)
                ctx.beginPath()
                ctx.moveTo(x, u.bbox.top)
                ctx.lineTo(x, u.bbox.top + u.bbox.height)
                ctx.stroke()
              }
              ctx.restore()
            },
          ],
        },
      },
      chartData([]),
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
  }, [last])

  useEffect(() => {
    plot.current?.setData(chartData(timeline))
  }, [timeline, last])

  const points = timeline.filter((e) => e.status === 'aggregated' && e.accuracy !== null).length
  return (
    <figure class="chart">
      <div ref={box} id="chart" data-points={points} data-failed={failed.length} />
      <figcaption>
        Held-out accuracy and AUC of the global head per round; the dashed line is always answering the
        majority class.
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
