import {
  type BestRoundMetric,
  type ConsolePrivacy,
  type ConsoleRun,
  formatEpsilon,
  type LiveStage,
  type RunWaiting,
} from '@fedtune/protocol'

/** A stage as the page names it. */
export const STAGE_NAMES: Readonly<Record<LiveStage, string>> = {
  advertise: 'advertise',
  'share-keys': 'share keys',
  'masked-input': 'masked input',
  unmask: 'unmask',
  update: 'update',
}

export const SECURE_STAGES: readonly LiveStage[] = ['advertise', 'share-keys', 'masked-input', 'unmask']

/** What a run waits for, in a sentence; '' when it is not waiting. `now` in epoch ms. */
export function waitingText(waiting: RunWaiting | null, now: number): string {
  if (waiting === null) return ''
  switch (waiting.kind) {
    case 'preparing':
      return `preparing: ${waiting.detail}`
    case 'participants':
      return `participants to join (${waiting.online} of ${waiting.needed} online)`
    case 'gather':
      return `the gather window (${seconds(waiting.until - now)} left)`
    case 'stage': {
      const who = [...waiting.waitingFor, ...(waiting.more > 0 ? [`${waiting.more} more`] : [])].join(', ')
      const left = waiting.deadlineAt === null ? '' : `, ${seconds(waiting.deadlineAt - now)} to the deadline`
      return `${STAGE_NAMES[waiting.stage]}'s stragglers: ${who || 'nobody'}${left}`
    }
    case 'resume':
      return `an operator's resume${waiting.pausedBy ? ` (paused by ${waiting.pausedBy})` : ''}`
    case 'commit':
      return 'the round to be written'
  }
}

/** "round n/N" as the runs list shows it. */
export const roundText = (run: ConsoleRun) => `${run.round}/${run.rounds}`

export function seconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  return s >= 120 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`
}

export function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

export const metric = (value: number | null) => (value === null ? '—' : value.toFixed(3))

/** ε as every party prints it (two decimals); '—' for none. */
export const epsilon = (value: number | null) => (value === null ? '—' : formatEpsilon(value))

/** A run's budget in a line: "ε 1.23 of 3.00 spent (δ = 1e-5, per example)", or that there is none. */
export function privacyText(p: ConsolePrivacy | null): string {
  if (p === null) return 'none: this task gives no differential-privacy guarantee'
  return `ε ${formatEpsilon(p.epsilon)} of ${formatEpsilon(p.target)} spent (δ = ${p.delta.toExponential(0)}, per ${p.unit})`
}

/** An ISO time as local date and time, to the second; '—' for none. */
export function when(iso: string | null): string {
  if (iso === null) return '—'
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { hour12: false })
}

/** A selection metric as the page names it. */
export const BEST_METRIC_NAMES: Readonly<Record<BestRoundMetric, string>> = {
  auc: 'AUC',
  accuracy: 'ACC',
  balancedAccuracy: 'balanced ACC',
  qwk: 'QWK',
}
