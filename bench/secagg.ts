import { mkdir, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import {
  addInto,
  applyMasks,
  type Mask,
  naclCrypto,
  type SecaggCrypto,
  secaggParameters,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { markdownTable } from './markdown-table.ts'
import {
  benchInput,
  benchUpdate,
  measureRound,
  type RoundMeasurement,
  type RoundSetup,
  setupRound,
} from './secagg-round.ts'
import { mean, median } from './stats.ts'

const USAGE = `Usage: npm run bench:secagg -- [options]

Cost of one SecAgg+ round (Bonawitz et al. 2017 with Bell et al. 2020 neighbourhoods) with n simulated
participants in one process, all on node:crypto: coordinator time (routing the four stages vs. unmasking
in finish()), each participant's crypto time, and the bytes every message takes through fedtune's
packed socket.io encoder — beside two plaintext baselines measured in the same round: the same words summed with the
coordinator's SIMD addInto, and the coordinator's plaintext-debug FedAvg of float updates. Then mask
expansion throughput of nodeCrypto and naclCrypto (WebCrypto). Writes bench/out/secagg.md.

Rows: n ∈ {10, 100, 1000} × d ∈ {12,810, 328,453 (a 1280→256→2 head, its example count and 2 label
counts)} × dropout ∈ {0, 10, 30 %}; k = 41 and t = 21 for n ≥ 41, else k = n and t = ⌊n/2⌋ + 1. Dropped
participants go silent after sharing keys, before their masked input (the costly case: their pair
masks must be removed, by the survivors' corrections for vectors of at most 65,536 words, else by
the coordinator from their rebuilt mask keys). n = 1000 with d = 328,453 is run at 10 % only,
once (~2 min; --full runs it at every dropout). One more row, "n=100 d=12810 drop=10% browser
participants", runs the participants on tweetnacl+webcrypto, the volunteer page's backend.

Options:
  --only <text>   run only the rows whose label contains this text, e.g. "n=1000" or "d=12810"
  --reps <n>      rounds per row; n = 1000 with d = 328,453 always runs once          (default 5)
  --quick         one round per row, and skip n = 1000 with d = 328,453
  --full          n = 1000 with d = 328,453 at every dropout rate
  --skip-throughput
  -h, --help
`

const DIMS = [12_810, 328_453] as const
const NS = [10, 100, 1000] as const
const DROPOUTS = [0, 0.1, 0.3] as const
/** The configuration for n ≥ 41 (Bell et al.: k logarithmic in n, t an honest majority). */
const K = 41
const T = 21
/** Rows this large (n·d words) run once: a round of them takes most of a minute. */
const HEAVY = 1e8

type Row = {
  readonly n: number
  readonly dim: number
  readonly dropout: number
  readonly k: number
  readonly t: number
  readonly label: string
}

type RowResult = {
  readonly row: Row
  readonly rounds: readonly RoundMeasurement[]
  /** Of SAMPLED_DRAWS random dropout sets, how many leave some participant fewer than t surviving neighbours. */
  readonly undecodable: number
}

/** Random dropout sets per row over which the share of rounds that fail at stage 3 is estimated. */
const SAMPLED_DRAWS = 200

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      reps: { type: 'string', default: '5' },
      quick: { type: 'boolean', default: false },
      full: { type: 'boolean', default: false },
      'skip-throughput': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const reps = values.quick ? 1 : Number(values.reps)
  if (!Number.isInteger(reps) || reps < 1)
    throw new Error(`--reps: expected a positive integer, got ${values.reps}`)

  const allRows: Row[] = []
  for (const dim of DIMS)
    for (const n of NS)
      for (const dropout of DROPOUTS) {
        const heaviest = n === 1000 && dim === 328_453
        if (heaviest && (values.quick || (!values.full && dropout !== 0.1))) continue
        const k = n >= K ? K : n
        const t = n >= K ? T : Math.floor(n / 2) + 1
        allRows.push({ n, dim, dropout, k, t, label: `n=${n} d=${dim} drop=${dropout * 100}%` })
      }
  const only = values.only
  const rows = only === undefined ? allRows : allRows.filter((r) => r.label.includes(only))
  if (rows.length === 0 && !(only !== undefined && BROWSER_ROW.label.includes(only)))
    throw new Error(`--only: no row's label contains "${only}"`)

  const started = performance.now()
  const results: RowResult[] = []
  for (const row of rows) {
    const result = await measureRow(row, row.n * row.dim > HEAVY ? 1 : reps)
    results.push(result)
    process.stderr.write(`${row.label}: ${summary(result)}\n`)
  }
  const browser =
    only === undefined || BROWSER_ROW.label.includes(only) ? await measureBrowserParticipants(reps) : null
  if (browser)
    process.stderr.write(
      `${BROWSER_ROW.label}: participant ${ms(browser.participantMean)} / ${ms(browser.participantMax)}\n`,
    )
  const throughput = values['skip-throughput'] ? null : await throughputRows()
  const minutes = ((performance.now() - started) / 60000).toFixed(1)

  const roundTable = markdownTable(
    [
      'n',
      'd (words)',
      'k / t',
      'dropout',
      'rounds',
      'coordinator routing',
      'coordinator unmask',
      'plaintext sum',
      'secure / plaintext',
      'plaintext FedAvg',
      'secure / FedAvg',
      'participant crypto mean / max',
      'up / down per participant',
      'coordinator in / out',
    ],
    results.map(({ row, rounds }) => {
      const ok = rounds.filter((r) => r.ok)
      if (ok.length === 0)
        return [
          `${row.n}`,
          fmtInt(row.dim),
          `${row.k} / ${row.t}`,
          pct(row.dropout),
          '0',
          'failed',
          '',
          '',
          '',
          '',
          '',
          '',
          '',
          '',
        ]
      const m = medians(ok)
      return [
        `${row.n}`,
        fmtInt(row.dim),
        `${row.k} / ${row.t}`,
        pct(row.dropout),
        `${ok.length}`,
        ms(m.routing),
        ms(m.unmask),
        ms(m.plaintext),
        `${m.ratio.toFixed(1)}×`,
        ms(m.fedAvg),
        `${m.fedAvgRatio.toFixed(1)}×`,
        `${ms(m.participantMean)} / ${ms(m.participantMax)}`,
        `${bytes(m.up)} / ${bytes(m.down)}`,
        `${bytes(m.coordinatorIn)} / ${bytes(m.coordinatorOut)}`,
      ]
    }),
  )
  const failures = results
    .filter((r) => r.undecodable > 0 || r.rounds.some((m) => !m.ok || !m.correct))
    .map((r) => {
      const { k, t } = secaggParameters({ participants: r.row.n, dropoutRate: r.row.dropout })
      const failed = r.rounds.find((m) => !m.ok)
      return [
        `- ${r.row.label}: ${pct(r.undecodable / SAMPLED_DRAWS)} of ${SAMPLED_DRAWS} random dropout sets leave some`,
        `participant fewer than t = ${r.row.t} surviving neighbours, so the round would fail at stage 3 (the`,
        `measured rounds use sets that do not; secaggParameters gives k = ${k}, t = ${t} for a 10⁻⁶ bound)`,
        failed ? `; a round failed: ${failed.reason}` : '',
        r.rounds.some((m) => m.ok && !m.correct) ? '; WRONG SUM' : '',
      ]
        .filter((part) => part !== '')
        .join(' ')
    })
  const targets = targetRows(results, throughput, browser)
  const setupNote = results
    .filter((r) => r.rounds[0]?.ok)
    .map((r) => r.row.n)
    .filter((n, i, all) => all.indexOf(n) === i)
    .map((n) => {
      const r = results.find((x) => x.row.n === n && x.rounds[0]?.ok) as RowResult
      return `n=${n}: ${bytes((r.rounds[0] as RoundMeasurement).setupBytes)}`
    })
    .join(', ')

  const report = [
    '## Secure aggregation cost (SecAgg+)',
    '',
    `One process, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, node:crypto for the coordinator and every`,
    'participant. Times are medians over the rounds of a row; each round is paired with two plaintext baselines',
    'measured right after it, so each ratio is taken within one round on one machine:',
    '',
    '- plaintext sum: the same survivors’ words added mod 2^32 with the coordinator’s own `addInto`',
    '  (WebAssembly SIMD) — the least any aggregation of these vectors can cost, parsing not included;',
    '- plaintext FedAvg: the survivors’ float updates weighted and summed in float64 as the coordinator does',
    '  in a `plaintext-debug` task (fedavg.ts `weightedSum`) — what fedtune runs without secure aggregation.',
    '',
    '"secure / …" = (routing + unmask) / baseline. The machine is shared: absolute times vary by ±30 % and',
    'more from run to run, ratios less.',
    '',
    '- coordinator routing: every `receive` (parsing, signature checks, adding each masked input into the',
    '  running sum, subtracting each survivor’s correction) and the four stage closes; unmask: `finish()` —',
    '  rebuilding each survivor’s self-mask seed (and, for vectors longer than 65,536 words, each dropped',
    '  participant’s mask key) from t shares, and removing those masks.',
    '- participant crypto: advertise + shareKeys + maskedInput + unmask of one survivor, parsing included',
    '  (mean and max over survivors; the max is usually a garbage-collection pause).',
    '- bytes: each message through fedtune’s socket.io parser (packed: one frame of JSON header and length-prefixed byte fields; a text frame + 1 engine.io type byte when it has none),',
    `  WebSocket framing not counted; per participant, mean over survivors. The roster announcement (SecaggSetup,`,
    `  its identity keys packed in one field of 32 B each) comes on top, per participant: ${setupNote}.`,
    '- dropouts go silent after share-keys, before masked-input: their pair masks with the survivors must go.',
    '  Up to 65,536 words (d = 12,810 here) each survivor sends their sum as its correction (fedtune/9);',
    '  longer vectors (d = 328,453) have none, and the coordinator rebuilds the dropouts’ mask keys and',
    '  expands each surviving neighbour’s pair mask itself (≈ 0.9·(k − 1) agreements and keystreams per dropout).',
    `- Bench took ${minutes} min.`,
    '',
    roundTable,
    '',
    ...(failures.length > 0 ? ['Where k = 41 is too small for the dropout rate:', '', ...failures, ''] : []),
    ...(browser
      ? [
          "## A browser's participant crypto",
          '',
          `${BROWSER_ROW.label}: the participants on tweetnacl+webcrypto, the volunteer page's backend (here on`,
          "Node's V8 and WebCrypto), the coordinator on node:crypto; medians over the rounds of the mean and the",
          `max over survivors: ${ms(browser.participantMean)} / ${ms(browser.participantMax)}.`,
          '',
        ]
      : []),
    ...(throughput ? ['## Mask expansion throughput', '', throughput.table, ''] : []),
    '## Targets',
    '',
    targets,
    '',
  ].join('\n')
  process.stdout.write(`\n${report}`)
  const out = new URL('out/', import.meta.url)
  await mkdir(out, { recursive: true })
  await writeFile(new URL('secagg.md', out), report)
  return results.some((r) => r.rounds.some((m) => m.ok && !m.correct)) ? 1 : 0
}

/** `reps` rounds of `row`, the coordinator on node:crypto and the participants on `participantCrypto`. */
async function measureRow(
  row: Row,
  reps: number,
  participantCrypto: SecaggCrypto = nodeCrypto,
): Promise<RowResult> {
  const spec = {
    crypto: nodeCrypto,
    participantCrypto,
    n: row.n,
    dim: row.dim,
    neighbourCount: row.k,
    threshold: row.t,
  }
  const inputs = Array.from({ length: row.n }, (_, i) => benchInput(i, row.dim))
  const updates = inputs.map(benchUpdate)
  const rounds: RoundMeasurement[] = []
  const count = Math.round(row.dropout * row.n)
  let undecodable = 0
  for (let rep = 0; rep < reps; rep++) {
    const round = setupRound(spec, rep + 1)
    if (rep === 0)
      for (let i = 0; i < SAMPLED_DRAWS; i++)
        if (!decodable(round, randomSet(row.n, count), row.t)) undecodable++
    rounds.push(
      await measureRound({ ...spec, dropped: drawDropouts(round, count, row.t) }, round, inputs, updates),
    )
  }
  return { row, rounds, undecodable }
}

/**
 * `count` participants drawn uniformly, redrawn while some participant would keep fewer than t
 * neighbours that sent a masked input — a set under which the round fails at stage 3 by design
 * (closeMaskedInput), which would measure nothing. How often that happens is reported apart.
 */
function drawDropouts(round: RoundSetup, count: number, threshold: number): ReadonlySet<number> {
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const dropped = randomSet(round.ids.length, count)
    if (decodable(round, dropped, threshold)) return dropped
  }
  throw new Error(
    `no dropout set of ${count} of ${round.ids.length} keeps t = ${threshold} survivors everywhere`,
  )
}

/** `count` of 0..n−1, uniformly (Fisher–Yates); benchmark randomness, not a secret. */
function randomSet(n: number, count: number): ReadonlySet<number> {
  const order = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[order[i], order[j]] = [order[j] as number, order[i] as number]
  }
  return new Set(order.slice(0, count))
}

/** Whether every participant keeps at least t neighbours (itself included) outside `dropped`. */
function decodable(round: RoundSetup, dropped: ReadonlySet<number>, threshold: number): boolean {
  const indexOf = new Map(round.ids.map((id, i) => [id, i]))
  return round.ids.every((id) => {
    const neighbours = round.context.neighbours.get(id) as readonly string[]
    return neighbours.filter((v) => !dropped.has(indexOf.get(v) as number)).length >= threshold
  })
}

type Medians = {
  routing: number
  unmask: number
  plaintext: number
  ratio: number
  fedAvg: number
  fedAvgRatio: number
  participantMean: number
  participantMax: number
  up: number
  down: number
  coordinatorIn: number
  coordinatorOut: number
}

function medians(rounds: readonly RoundMeasurement[]): Medians {
  const of = (f: (r: RoundMeasurement) => number) => median(rounds.map(f))
  return {
    routing: of((r) => r.routingMs),
    unmask: of((r) => r.unmaskMs),
    plaintext: of((r) => r.plaintextMs),
    ratio: of((r) => (r.routingMs + r.unmaskMs) / r.plaintextMs),
    fedAvg: of((r) => r.fedAvgMs),
    fedAvgRatio: of((r) => (r.routingMs + r.unmaskMs) / r.fedAvgMs),
    participantMean: of((r) => mean(r.participantMs)),
    participantMax: of((r) => Math.max(...r.participantMs)),
    up: of((r) => mean(r.participantBytes.map((b) => b.up))),
    down: of((r) => mean(r.participantBytes.map((b) => b.down))),
    coordinatorIn: of((r) => r.coordinatorIn),
    coordinatorOut: of((r) => r.coordinatorOut),
  }
}

function summary(result: RowResult): string {
  const ok = result.rounds.filter((r) => r.ok)
  if (ok.length === 0) return `failed: ${result.rounds[0]?.reason}`
  const m = medians(ok)
  const correct = ok.every((r) => r.correct) ? 'sum correct' : 'WRONG SUM'
  return `routing ${ms(m.routing)}, unmask ${ms(m.unmask)}, plaintext ${ms(m.plaintext)} (${m.ratio.toFixed(1)}×), participant ${ms(m.participantMean)} / ${ms(m.participantMax)}, ${correct}`
}

type Throughput = {
  readonly table: string
  /** MB/s of each backend's keystream (by name), by vector length in words. */
  readonly keystream: ReadonlyMap<string, ReadonlyMap<number, number>>
}

/**
 * MB/s (10^6 bytes of mask) of each backend's keystream, of one mask application (keystream +
 * addInto), and of a participant's whole batch of k + 1 masks through applyMasks, at each d. Backends alternate in five batches of ≥ 0.2 s
 * each so a neighbour's load hits both alike; the median batch is reported.
 */
async function throughputRows(): Promise<Throughput> {
  const backends: readonly SecaggCrypto[] = [nodeCrypto, naclCrypto]
  const rows: string[][] = []
  const keystream = new Map(backends.map((b) => [b.name, new Map<number, number>()]))
  for (const words of DIMS) {
    const key = nodeCrypto.randomBytes(16)
    const acc = new Uint32Array(words)
    // A participant's batch: its self mask and k pair masks, fused (applyMasks) where the backend can.
    const masks: Mask[] = Array.from({ length: K + 1 }, (_, i) => ({
      key: nodeCrypto.randomBytes(16),
      sign: i % 2 === 0 ? 1 : -1,
    }))
    const ops = backends.flatMap((crypto) => [
      { crypto, what: 'keystream', masks: 1, run: () => crypto.keystream(key, words).then(() => undefined) },
      {
        crypto,
        what: 'keystream + addInto',
        masks: 1,
        run: async () => addInto(acc, await crypto.keystream(key, words)),
      },
      {
        crypto,
        what: `applyMasks, ${K + 1} masks`,
        masks: K + 1,
        run: () => applyMasks(crypto, acc, masks),
      },
    ])
    const batches = ops.map(() => [] as number[])
    for (const op of ops) for (let i = 0; i < 20; i++) await op.run()
    for (let batch = 0; batch < 5; batch++)
      for (const [i, op] of ops.entries()) {
        let calls = 0
        const t0 = performance.now()
        while (performance.now() - t0 < 200) {
          await op.run()
          calls++
        }
        const seconds = (performance.now() - t0) / 1000
        ;(batches[i] as number[]).push((calls * op.masks * words * 4) / seconds / 1e6)
      }
    for (const [i, op] of ops.entries()) {
      const rate = median(batches[i] as number[])
      if (op.what === 'keystream') keystream.get(op.crypto.name)?.set(words, rate)
      rows.push([
        `${op.crypto.name} ${op.what}`,
        `${fmtInt(words)} words (${bytes(words * 4)})`,
        `${fmtInt(Math.round(rate))} MB/s`,
        `${((op.masks * words * 4) / rate / 1000).toFixed(3)} ms`,
      ])
    }
  }
  return { table: markdownTable(['backend', 'vector', 'throughput', 'per call'], rows), keystream }
}

/** The row whose participants run a browser's backend (naclCrypto): the participant target, for volunteers. */
const BROWSER_ROW: Row = {
  n: 100,
  dim: 12_810,
  dropout: 0.1,
  k: K,
  t: T,
  label: 'n=100 d=12810 drop=10% browser participants',
}

/** BROWSER_ROW's rounds: participant crypto on naclCrypto, the coordinator on nodeCrypto. */
async function measureBrowserParticipants(
  reps: number,
): Promise<{ participantMean: number; participantMax: number }> {
  const { rounds } = await measureRow(BROWSER_ROW, reps, naclCrypto)
  const ok = rounds.filter((r) => r.ok)
  if (ok.length === 0) throw new Error(`${BROWSER_ROW.label}: no round succeeded (${rounds[0]?.reason})`)
  return medians(ok)
}

function targetRows(
  results: readonly RowResult[],
  throughput: Throughput | null,
  browser: { participantMean: number; participantMax: number } | null,
): string {
  const find = (n: number, dim: number, dropout: number) => {
    const r = results.find((x) => x.row.n === n && x.row.dim === dim && x.row.dropout === dropout)
    const ok = r?.rounds.filter((m) => m.ok) ?? []
    return ok.length > 0 ? medians(ok) : undefined
  }
  const verdict = (value: number | undefined, limit: number, atMost: boolean, show: (v: number) => string) =>
    value === undefined
      ? ['not measured (row not run)', '–']
      : [show(value), (atMost ? value <= limit : value >= limit) ? 'met' : 'missed']
  const big = find(1000, 12_810, 0.1)
  const perParticipant = find(1000, 12_810, 0.1) ?? find(100, 12_810, 0.1)
  const rows: string[][] = [
    [
      'coordinator unmasking ≤ 1 s',
      'n=1000, d=12,810, k=41, 10 % dropout',
      ...verdict(big?.unmask, 1000, true, (v) => `${ms(v)} (routing ${ms(big?.routing ?? 0)} besides)`),
    ],
    [
      'participant crypto ≤ 60 ms per round',
      `d=12,810, k=41, 10 % dropout, n=${big ? 1000 : 100} (mean over survivors)`,
      ...verdict(
        perParticipant?.participantMean,
        60,
        true,
        (v) => `${ms(v)} (max ${ms(perParticipant?.participantMax ?? 0)})`,
      ),
    ],
    [
      'participant crypto ≤ 60 ms per round',
      "d=12,810, k=41, 10 % dropout, n=100, tweetnacl+webcrypto participants (a browser's backend)",
      ...verdict(
        browser?.participantMean,
        60,
        true,
        (v) => `${ms(v)} (max ${ms(browser?.participantMax ?? 0)})`,
      ),
    ],
    ...[nodeCrypto, naclCrypto].flatMap((crypto) =>
      DIMS.map((words) => [
        'mask expansion ≥ 800 MB/s',
        `${crypto.name} keystream, ${bytes(words * 4)} vector`,
        ...verdict(
          throughput?.keystream.get(crypto.name)?.get(words),
          800,
          false,
          (v) => `${fmtInt(Math.round(v))} MB/s`,
        ),
      ]),
    ),
    ...[0, 0.1, 0.3].flatMap((dropout) => {
      const m = find(100, 328_453, dropout)
      const secure = ms((m?.routing ?? 0) + (m?.unmask ?? 0))
      return [
        [
          'secure ≤ 5 × plaintext sum',
          `n=100, d=328,453, k=41, ${pct(dropout)} dropout, against the SIMD add`,
          ...verdict(m?.ratio, 5, true, (v) => `${v.toFixed(1)}× (${secure} vs ${ms(m?.plaintext ?? 0)})`),
        ],
        [
          'secure ≤ 5 × plaintext sum',
          `n=100, d=328,453, k=41, ${pct(dropout)} dropout, against plaintext FedAvg`,
          ...verdict(m?.fedAvgRatio, 5, true, (v) => `${v.toFixed(1)}× (${secure} vs ${ms(m?.fedAvg ?? 0)})`),
        ],
      ]
    }),
  ]
  return markdownTable(['target', 'configuration', 'measured', ''], rows)
}

function ms(value: number): string {
  return value >= 100
    ? `${value.toFixed(0)} ms`
    : value >= 10
      ? `${value.toFixed(1)} ms`
      : `${value.toFixed(2)} ms`
}

function bytes(value: number): string {
  if (value >= 1e9) return `${(value / 1e9).toFixed(2)} GB`
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)} MB`
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} kB`
  return `${Math.round(value)} B`
}

function pct(value: number): string {
  return `${Math.round(value * 100)} %`
}

function fmtInt(value: number): string {
  return value.toLocaleString('en-US')
}

process.exitCode = await main()
