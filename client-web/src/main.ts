import { type Backbone, centreDataset, dominantWarning, metricsLine, stratifiedSplit } from '@fedtune/model'
import {
  budgetDecision,
  epsilonOf,
  formatDelta,
  formatEpsilon,
  formatWait,
  type PrivacySettings,
  parseTaskInfo,
  privacyStatement,
  type RoundResult,
  roundPrivacyEvent,
  type SpentRound,
  spentLine,
  type TaskInfo,
} from '@fedtune/protocol'
import { taskBackbone } from './backbone.ts'
import { type BackendName, embedImages, initEmbeddingBackend } from './embedding.ts'
import { volunteerIdentity } from './identity.ts'
import { joinAddress, taskInfoUrl } from './join-address.ts'
import { countByLabel, type LabelledFile, labelFolder } from './label-folder.ts'
import { roundEpsilon } from './round-epsilon.ts'
import { VolunteerSession } from './session.ts'
import { keepSpentRounds, loadSpentRounds } from './spent-rounds.ts'
import { deleteEverything } from './store.ts'
import { viewsLine } from './views-line.ts'
import type { FromWorker } from './worker-messages.ts'

/**
 * The volunteer page: says what the task is and what leaves the browser, waits for an explicit
 * opt-in, then fetches and verifies the backbone, embeds the chosen images, and takes part in the
 * coordinator's secure rounds through a training worker. Stop ends everything and deletes what the
 * page stored.
 */

/** Held-out share of the volunteer's images for local validation (as the Node client's default). */
const VAL_FRACTION = 0.1

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const ui = {
  title: $<HTMLHeadingElement>('task-title'),
  description: $<HTMLParagraphElement>('task-description'),
  facts: $<HTMLDListElement>('task-facts'),
  privacy: $<HTMLDivElement>('privacy'),
  statement: $<HTMLUListElement>('privacy-statement'),
  leavesCounts: $<HTMLLIElement>('leaves-counts'),
  budget: $<HTMLParagraphElement>('privacy-budget'),
  reported: $<HTMLParagraphElement>('privacy-reported'),
  excess: $<HTMLParagraphElement>('privacy-excess'),
  needs: $<HTMLParagraphElement>('data-needs'),
  folder: $<HTMLInputElement>('folder'),
  files: $<HTMLInputElement>('files'),
  label: $<HTMLSelectElement>('label'),
  addFiles: $<HTMLButtonElement>('add-files'),
  counts: $<HTMLParagraphElement>('counts'),
  warnings: $<HTMLParagraphElement>('data-warnings'),
  optIn: $<HTMLInputElement>('opt-in'),
  join: $<HTMLButtonElement>('join'),
  stop: $<HTMLButtonElement>('stop'),
  status: $<HTMLParagraphElement>('status'),
  bar: $<HTMLProgressElement>('bar'),
  detail: $<HTMLParagraphElement>('detail'),
  stage: $<HTMLParagraphElement>('stage'),
  embedded: $<HTMLParagraphElement>('embedded'),
  yours: $<HTMLParagraphElement>('on-your-images'),
  rounds: $<HTMLTableSectionElement>('rounds').querySelector('tbody') as HTMLTableSectionElement,
  coordinator: $<HTMLParagraphElement>('coordinator'),
  chart: $<HTMLImageElement>('chart'),
}

type State =
  | 'idle'
  | 'loading-backbone'
  | 'embedding'
  | 'waiting'
  /** Refused for now (a full task, a limit, …): the session asks again after a wait it shows. */
  | 'retrying'
  | 'in-round'
  | 'finished'
  /** The next round would take this browser past the task's privacy budget: it left the run. */
  | 'budget-spent'
  | 'stopped'
  | 'error'

let task: TaskInfo | undefined
/** The task and invite code named by this page's address (`/join/<task>?invite=<code>`). */
const address = joinAddress(location.pathname, location.search)
let chosen: LabelledFile[] = []
let session: VolunteerSession | undefined
let backbone: Backbone | undefined
let abort = new AbortController()
const yourPart = new Map<number, string>()

function setStatus(state: State, text: string): void {
  ui.status.dataset.state = state
  ui.status.textContent = text
}

function setProgress(done: number, total: number, detail: string): void {
  ui.bar.max = Math.max(total, 1)
  ui.bar.value = done
  ui.detail.textContent = detail
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag)
  e.textContent = text
  return e
}

function forcedBackend(): BackendName | undefined {
  const b = new URLSearchParams(location.search).get('backend')
  return b === 'webgl' || b === 'wasm' ? b : undefined
}

async function showTask(): Promise<void> {
  ui.coordinator.textContent = `Coordinator: ${location.origin}`
  if ('error' in address) {
    setStatus('error', address.error)
    ui.title.textContent = 'No task'
    return
  }
  const url = taskInfoUrl(address.task)
  try {
    const response = await fetch(url)
    if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`)
    task = parseTaskInfo(await response.json())
  } catch (error) {
    setStatus('error', `Cannot read the task from the coordinator: ${(error as Error).message}`)
    ui.title.textContent = 'No task'
    return
  }
  const t = task
  ui.title.textContent = `Task: ${t.name}`
  ui.description.textContent = t.description || 'The coordinator gave no description of this task.'
  const views = viewsLine(t.backbone.views)
  const facts: [string, string][] = [
    ['Classes', t.head.labels.join(', ')],
    ['Rounds', String(t.rounds)],
    [
      'Model',
      `a frozen image backbone (${(t.backbone.files.reduce((s, f) => s + f.bytes, 0) / 1e6).toFixed(1)} MB, downloaded once and checked against its SHA-256) and a small head of ${t.paramCount.toLocaleString('en')} parameters that is trained`,
    ],
    ...(views === null ? [] : [['Views', views] as [string, string]]),
    [
      'Aggregation',
      t.aggregation === 'secure'
        ? 'secure aggregation (the coordinator learns only the sum)'
        : 'PLAINTEXT (debug mode)',
    ],
    [
      'Differential privacy',
      t.privacy === null
        ? 'none: this task gives no differential-privacy guarantee'
        : `ε = ${formatEpsilon(t.privacy.epsilon)}, δ = ${formatDelta(t.privacy.delta)} for each ${t.privacy.unit === 'example' ? 'image' : 'participant'}`,
    ],
  ]
  ui.facts.replaceChildren(...facts.flatMap(([k, v]) => [el('dt', k), el('dd', v)]))
  // Said before the opt-in: what the task promises (or that it promises nothing), in plain words.
  ui.privacy.dataset.unit = t.privacy?.unit ?? 'none'
  ui.statement.replaceChildren(...privacyStatement(t.privacy).map((line) => el('li', line)))
  if (t.privacy !== null)
    ui.leavesCounts.textContent =
      'No count at all: under this task’s differential privacy neither how many images you trained on, nor how many per class, nor how many of your held-out images the model got right is sent, not even masked.'
  ui.needs.textContent = `PNG or JPEG images of the classes ${t.head.labels.map((l) => `"${l}"`).join(' and ')}: either a folder with one subfolder per class named exactly so, or files chosen per class.`
  ui.label.replaceChildren(
    ...t.head.labels.map((l, i) => {
      const o = el('option', l)
      o.value = String(i)
      return o
    }),
  )
  if (t.aggregation !== 'secure') {
    setStatus(
      'error',
      'This task sends updates in plaintext (a debugging mode). Volunteers never take part in it.',
    )
    return
  }
  if (!t.browsers.enabled) {
    setStatus('error', 'This task does not take browser participants.')
    return
  }
  if (!secureContext()) {
    setStatus(
      'error',
      `This page was opened over plain http from another machine (${location.origin}), so the browser gives it no WebCrypto, which secure aggregation needs. Open it over https, or ask the coordinator's operator to serve it that way.`,
    )
    return
  }
  setStatus('idle', 'Waiting for you to choose images and opt in.')
  updateControls()
}

function showCounts(warning = ''): void {
  if (!task) return
  const counts = countByLabel(chosen, task.head.labels.length)
  ui.counts.textContent =
    chosen.length === 0
      ? 'No images chosen.'
      : `${chosen.length} images: ${task.head.labels.map((l, i) => `${l} ${counts[i]}`).join(', ')}`
  ui.warnings.textContent = warning
  updateControls()
}

/** WebCrypto (the masks, the backbone's SHA-256) exists only in a secure context: https, or localhost. */
function secureContext(): boolean {
  return globalThis.isSecureContext && globalThis.crypto?.subtle !== undefined
}

function updateControls(): void {
  const ready =
    task !== undefined && task.aggregation === 'secure' && task.browsers.enabled && secureContext()
  const state = ui.status.dataset.state as State
  // Joining again is possible only before, or after a stop or an error; never while a part runs.
  const idle = state === 'idle' || state === 'stopped' || state === 'error'
  ui.join.disabled = !(ready && idle && session === undefined && ui.optIn.checked && chosen.length >= 2)
  ui.addFiles.disabled = !(ready && idle && (ui.files.files?.length ?? 0) > 0)
  ui.folder.disabled = !idle
  ui.files.disabled = !idle
}

ui.folder.addEventListener('change', () => {
  if (!task) return
  const { images, skipped } = labelFolder([...(ui.folder.files ?? [])], task.head.labels)
  chosen = images
  showCounts(
    skipped.length === 0
      ? ''
      : `${skipped.length} files skipped, e.g. ${skipped[0]?.path}: ${skipped[0]?.why}`,
  )
})

ui.files.addEventListener('change', updateControls)
ui.addFiles.addEventListener('click', () => {
  const label = Number(ui.label.value)
  const added = [...(ui.files.files ?? [])]
    .filter((f) => /\.(png|jpe?g)$/i.test(f.name))
    .map((file) => ({ file, label }))
  chosen = [...chosen, ...added]
  ui.files.value = ''
  showCounts()
})
ui.optIn.addEventListener('change', updateControls)
ui.join.addEventListener('click', () => void join())
ui.stop.addEventListener('click', () => void stop())

async function join(): Promise<void> {
  if (!task || !ui.optIn.checked || 'error' in address) return
  const { task: taskName, invite } = address
  const t = task
  abort = new AbortController()
  ui.stop.disabled = false
  ui.optIn.disabled = true
  try {
    // Under privacy, first what this browser spent on the task before (its record survives reloads).
    const spent = t.privacy === null ? [] : await loadSpentRounds(t.taskId)
    if (t.privacy !== null && !budgetAllowsJoining(t, t.privacy, spent)) {
      updateControls()
      return
    }
    setStatus('loading-backbone', 'Fetching the backbone…')
    updateControls()
    const { backend, note } = await initEmbeddingBackend(forcedBackend())
    document.body.dataset.backend = backend
    backbone = await taskBackbone(
      t,
      (loaded, total, fromCache) => {
        document.body.dataset.backbone = fromCache ? 'cache' : 'download'
        setProgress(
          loaded,
          total,
          fromCache
            ? 'backbone from this browser’s cache, SHA-256 verified'
            : `backbone ${(loaded / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`,
        )
      },
      abort.signal,
    )
    abort.signal.throwIfAborted()
    setStatus('embedding', `Embedding your images on ${backend}${note ? ` (${note})` : ''}…`)
    updateControls()
    const started = performance.now()
    const data = await embedImages(
      backbone,
      t.backbone.views,
      chosen,
      (done, total) => setProgress(done, total, `${done} of ${total} images`),
      abort.signal,
    )
    const seconds = (performance.now() - started) / 1000
    document.body.dataset.embedRate = String(data.n / seconds)
    ui.embedded.textContent = `Embedded ${data.n} images in ${seconds.toFixed(1)} s (${(data.n / seconds).toFixed(1)} images/s) with the backbone on ${backend}${note ? `: ${note}` : ''}.`
    backbone.dispose()
    backbone = undefined
    // the task's input centre (the coordinator's validation mean), subtracted before the head sees anything
    const { train, val } = stratifiedSplit(centreDataset(data, t.inputCentre), VAL_FRACTION, 0)
    abort.signal.throwIfAborted()
    const identity = await volunteerIdentity()
    abort.signal.throwIfAborted()
    setStatus(
      'waiting',
      `Joined as ${identity.name}: waiting for the next round (${train.n} images to train on, ${val.n} held out; embedded ${data.n} in ${seconds.toFixed(1)} s on ${backend}).`,
    )
    session = new VolunteerSession({
      task: t,
      identity,
      train,
      val,
      agent: `fedtune-web/0.1.0 ${backend}`,
      taskName,
      invite,
      spent,
      keep: async (round) => {
        spent.push(round)
        await keepSpentRounds(t.taskId, spent)
        if (t.privacy !== null) showBudget(t.privacy, spent, round.round)
      },
      on: {
        joined: () => {
          if (ui.status.dataset.state === 'retrying')
            setStatus('waiting', 'Joined: waiting for the next round.')
        },
        waiting: (line, afterMs) => {
          setStatus(
            'retrying',
            `The coordinator did not let this browser join yet; asking again in ${formatWait(afterMs)}.`,
          )
          ui.detail.textContent = line
        },
        worker: onWorker,
        result: (r) => onResult(r, t.privacy, spent),
        finished: (f) => {
          session = undefined
          setStatus(
            'finished',
            `The task is finished: ${f.completed} of ${f.rounds} rounds completed. Thank you! You may now stop to delete what this page stored.`,
          )
          updateControls()
        },
        notice: (line) => {
          ui.detail.textContent = line
        },
        failed: (error) => {
          session = undefined
          setStatus('error', error.message)
          updateControls()
        },
        budgetSpent: (round, reason) => {
          session = undefined
          // No result of this round will reach the page: its row says why this browser is not in it.
          leftRound(round)
          setStatus(
            'budget-spent',
            `${reason.charAt(0).toUpperCase()}${reason.slice(1)}. This browser left the run; its record stays here until you stop.`,
          )
          updateControls()
        },
      },
    })
  } catch (error) {
    backbone?.dispose()
    backbone = undefined
    if (abort.signal.aborted) return
    setStatus('error', (error as Error).message)
    ui.optIn.disabled = false
  }
  updateControls()
}

/**
 * Shows what this browser spent on the task before, and whether its budget can take another round:
 * known at once for unit "example" (each round's steps are public); for unit "participant" each
 * round's fixed point is needed, so the worker checks that when a round comes.
 */
function budgetAllowsJoining(t: TaskInfo, privacy: PrivacySettings, spent: readonly SpentRound[]): boolean {
  showBudget(privacy, spent, null)
  if (privacy.unit !== 'example') return true
  const next = roundPrivacyEvent(privacy, { steps: privacy.stepsPerRound, scale: 1, dimension: t.paramCount })
  const decision = budgetDecision(
    privacy,
    spent.map((s) => s.event),
    next,
    'another round',
  )
  if (decision.train) return true
  setStatus('budget-spent', `${decision.reason}. This browser does not take part again.`)
  return false
}

/** "ε spent 1.23 of 3.00 (δ 1e-5)" for this browser on the task, after `round` (null: before joining). */
function showBudget(privacy: PrivacySettings, spent: readonly SpentRound[], round: number | null): void {
  const line = spentLine(
    epsilonOf(
      spent.map((s) => s.event),
      privacy.delta,
    ),
    privacy,
  )
  ui.budget.hidden = false
  ui.budget.dataset.round = round === null ? '' : String(round)
  ui.budget.textContent =
    round === null
      ? `Your privacy budget for this task: ${line}, ${spent.length} round${spent.length === 1 ? '' : 's'} trained before.`
      : `After round ${round}: ${line}.`
  if (round !== null) yourPart.set(round, `${yourPart.get(round) ?? 'trained'}; ${line}`)
}

function onWorker(m: FromWorker): void {
  if (m.type === 'stage') {
    ui.stage.dataset.round = String(m.round)
    ui.stage.dataset.stage = m.stage
    ui.stage.textContent = `Round ${m.round}: ${m.stage}${m.detail ? ` (${m.detail})` : ''}`
    setStatus('in-round', `Taking part in round ${m.round}.`)
    if (m.stage === 'refused') yourPart.set(m.round, `refused: ${m.detail ?? ''}`)
  } else if (m.type === 'progress')
    setProgress(
      m.epoch,
      m.epochs,
      `round ${m.round}: epoch ${m.epoch} of ${m.epochs}, loss ${m.loss.toFixed(4)}`,
    )
  else if (m.type === 'trained') {
    const r = m.received
    yourPart.set(
      m.round,
      `trained on ${m.examples}${r ? `; ACC ${r.accuracy.toFixed(3)} on your images` : ''}`,
    )
    // What the federation's model is worth on this volunteer's own images: computed here, never sent.
    if (r && task) {
      const labels = task.head.labels
      const warning = dominantWarning(r, labels, 'on your images')
      ui.yours.dataset.round = String(m.round)
      ui.yours.textContent = `Round ${m.round}: the global model on your ${r.examples} held-out images: ${metricsLine(r, labels)}.${warning ? ` Note: ${warning}.` : ''}`
    }
  }
}

/** The round this browser refused for its privacy budget and left in: it sees no result of it. */
function leftRound(round: number): void {
  appendRound(round, 'left', [
    'refused: privacy budget',
    'this browser left before it ended',
    '–',
    '–',
    '–',
    '–',
  ])
}

/** A row of the rounds table: the round, then its cells in the table's order (your part, result, …). */
function appendRound(round: number, status: string, cells: readonly string[]): void {
  const row = document.createElement('tr')
  row.dataset.round = String(round)
  row.dataset.status = status
  row.append(el('td', String(round)), ...cells.map((text) => el('td', text)))
  ui.rounds.append(row)
}

function onResult(r: RoundResult, privacy: PrivacySettings | null, spent: readonly SpentRound[]): void {
  appendRound(r.round, r.status, [
    yourPart.get(r.round) ?? 'not selected',
    r.status === 'aggregated' ? 'aggregated' : `failed: ${r.reason ?? ''}`,
    String(r.participants),
    r.accuracy === null ? '–' : r.accuracy.toFixed(3),
    r.auc === null ? '–' : r.auc.toFixed(3),
    r.epsilon === null ? '–' : formatEpsilon(r.epsilon),
  ])
  showReported(r, privacy, spent)
  // The coordinator's own chart of the run (the global head on its held-out set), fetched anew.
  ui.chart.src = `/api/rounds.svg?after=${r.round}`
  ui.chart.hidden = false
  setStatus('waiting', `Round ${r.round} ${r.status}; waiting for the next round.`)
}

/**
 * Under privacy, after each round's result: this browser's ε beside the coordinator's, and a loud
 * warning when the coordinator's is the higher although this browser released every round so far.
 * A warning stays shown (the latest one) so that a volunteer who looks later still sees it.
 */
function showReported(r: RoundResult, privacy: PrivacySettings | null, spent: readonly SpentRound[]): void {
  const report = roundEpsilon(r, privacy, spent)
  if (report === null) return
  ui.reported.hidden = false
  ui.reported.dataset.round = String(r.round)
  ui.reported.textContent = report.line
  if (report.warning === null) return
  ui.excess.hidden = false
  ui.excess.dataset.round = String(r.round)
  ui.excess.textContent = report.warning
}

async function stop(): Promise<void> {
  abort.abort()
  session?.stop()
  session = undefined
  backbone?.dispose()
  backbone = undefined
  chosen = []
  ui.folder.value = ''
  ui.files.value = ''
  ui.optIn.checked = false
  ui.optIn.disabled = false
  ui.stop.disabled = true
  try {
    const deleted = await deleteEverything()
    setStatus(
      'stopped',
      deleted === 'deleted'
        ? 'Stopped. Everything this page stored (the backbone, this browser’s key and its privacy budget record) is deleted; your images were never stored.'
        : 'Stopped. Another tab of this page still has its stored data open: the browser deletes it (the backbone, this browser’s key and its privacy budget record) as soon as that tab is closed. Your images were never stored.',
    )
  } catch (error) {
    setStatus('error', `Stopped, but deleting the stored data failed: ${(error as Error).message}`)
  }
  showCounts()
}

void showTask()
