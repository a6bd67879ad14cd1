import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createLogger, Participant, prepare } from '@fedtune/client-node'
import { parseTaskFile, type RoundRecord } from '@fedtune/coordinator'
import { type RunningCoordinator, startCoordinator } from '@fedtune/coordinator/start'
import { embedFolder, initBackend, loadBackbone, readBackboneFolder } from '@fedtune/model/node'
import { nodeCrypto } from '@fedtune/protocol/node'
import { runDataSplit } from 'fedtune/data'
import type { Browser } from 'playwright-core'
import { buildPage } from '../client-web/node/build-page.ts'
import { launchChromium } from '../client-web/node/chromium.ts'
import { bundlePageScript } from '../client-web/node/page-script.ts'
import { SEGMENT_WORDS, SEGMENTS_IN_FLIGHT } from '../protocol/src/secagg/webcrypto-masks.ts'
import { openVolunteer, STEP, type VolunteerRun, webglRenderer } from './browser-volunteer.ts'
import { markdownTable } from './markdown-table.ts'
import { median } from './stats.ts'

const USAGE = `Usage: npm run bench:browser -- [options]

The browser participant against the Node client, in one run on one machine:
1. embedding throughput (images/s over decoding and embedding) of the volunteer page in headless
   Chromium on WebGL and on WebAssembly, alternating, each run a fresh page that opens /join from a
   coordinator, picks a folder of real PneumoniaMNIST X-rays, opts in and joins; beside it the Node
   client's embedFolder on the same images (wasm, fresh cache each run);
2. the wall time of a secure round (SecAgg+) of a small task (logistic-regression head, 2 local
   epochs) with 2 Node hospitals and 1 browser volunteer, and with 3 Node hospitals;
3. a volunteer's crypto in the page: masks (WebCrypto AES-CTR, whole and in segments) and the
   curve operations of a round (WebCrypto Ed25519 and X25519).
Writes bench/out/browser.md. Takes about 3 min on 2 cores.

Options:
  --images <n>       images embedded per embedding run                          (default 200)
  --reps <n>         embedding runs per backend (page WebGL, page wasm, Node)    (default 3)
  --rounds <n>       rounds per federation                                       (default 3)
  --round-images <n> images per participant in the federations                  (default 48)
  --only <part>      embedding, rounds or crypto
  -h, --help
`

const REPO = fileURLToPath(new URL('../', import.meta.url))
const SHARED = join(REPO, '..', 'shared')
const BACKBONE = join(SHARED, 'backbones', 'mobilenet_v2_0.35_224')
const LABELS = ['normal', 'pneumonia']
/** WebGL on a CPU rasterizer is slow: 200 images can take minutes there. */
const PAGE_TIMEOUT_MS = 300_000

type Setup = {
  readonly work: string
  readonly webDir: string
  readonly browser: Browser
  readonly backbone: { readonly source: string; readonly sha256: string }
}

type EmbeddingRun = {
  readonly rate: number
  /** Images/s after the first step (page) or batch (Node), without the warm-up. */
  readonly steady: number | null
  readonly openToWaitingMs: number | null
  readonly note: string
}

type EmbeddingResult = {
  readonly renderer: string
  readonly page: ReadonlyMap<'webgl' | 'wasm', readonly EmbeddingRun[]>
  readonly node: readonly EmbeddingRun[]
  readonly nodeBackend: string
}

type FederationResult = {
  readonly label: string
  readonly records: readonly RoundRecord[]
  readonly volunteer: Omit<VolunteerRun, 'page'> | null
  /** Milliseconds from the third hospital's start until it was ready (backbone and embeddings from its cache). */
  readonly lastJoinerPrepareMs: number | null
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      images: { type: 'string', default: '200' },
      reps: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '3' },
      'round-images': { type: 'string', default: '48' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const images = positive('--images', values.images, 2)
  const reps = positive('--reps', values.reps, 1)
  const rounds = positive('--rounds', values.rounds, 1)
  const roundImages = positive('--round-images', values['round-images'], 10)
  const parts = ['embedding', 'rounds', 'crypto']
  if (values.only !== undefined && !parts.includes(values.only))
    throw new Error(`--only: expected embedding, rounds or crypto, got ${values.only}`)
  const runEmbedding = values.only === undefined || values.only === 'embedding'
  const runRounds = values.only === undefined || values.only === 'rounds'
  const runCrypto = values.only === undefined || values.only === 'crypto'

  const started = performance.now()
  const work = mkdtempSync(join(tmpdir(), 'fedtune-bench-browser-'))
  let browser: Browser | undefined
  try {
    log(`data, page build and Chromium in ${work}`)
    const dataset = join(SHARED, 'datasets', 'pneumoniamnist.npz')
    // Training images of PneumoniaMNIST (28×28 X-rays), a seeded stratified subset; the smallest
    // test split the splitter writes, since nothing here evaluates.
    const split = (out: string, hospitals: number, per: number) =>
      runDataSplit(
        [
          ...['--dataset', dataset, '--out', out, '--hospitals', String(hospitals)],
          ...['--per-hospital', String(per), '--test-limit', '1', '--seed', '11'],
        ],
        { log: () => {} },
      )
    const [, , webDir, launched, nodeBackend] = await Promise.all([
      runEmbedding ? split(join(work, 'embedding-data'), 1, images) : undefined,
      runRounds ? split(join(work, 'round-data'), 3, roundImages) : undefined,
      buildPage(join(work, 'web')),
      launchChromium(),
      initBackend(),
    ])
    browser = launched
    const setup: Setup = {
      work,
      webDir,
      browser,
      backbone: { source: BACKBONE, sha256: (await readBackboneFolder(BACKBONE)).digest },
    }
    const chromiumVersion = browser.version()

    const embedding = runEmbedding
      ? await measureEmbedding(setup, join(work, 'embedding-data', 'hospital-1'), images, reps, nodeBackend)
      : null
    const federations = runRounds ? await measureFederations(setup, rounds, roundImages) : null
    const masks = runCrypto ? await measureMaskExpansion(setup) : null
    const curves = runCrypto ? await measureCurves(setup) : null
    const minutes = ((performance.now() - started) / 60000).toFixed(1)

    const report = [
      '## The browser participant beside the Node client',
      '',
      `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, headless Chromium ${chromiumVersion}`,
      `(Debian's, through playwright-core), ${new Date().toISOString().slice(0, 10)}; the bench took ${minutes} min.`,
      'One Node process holds the coordinator and the Node hospitals; Chromium runs beside it. The machine',
      'is shared and noisy: read medians, and the min–max beside them.',
      '',
      ...(embedding ? embeddingSection(embedding, images, reps) : []),
      ...(federations ? federationSection(federations, rounds, roundImages) : []),
      ...(masks ? maskSection(masks) : []),
      ...(curves ? curveSection(curves) : []),
    ].join('\n')
    process.stdout.write(`\n${report}\n`)
    const out = new URL('out/', import.meta.url)
    await mkdir(out, { recursive: true })
    await writeFile(new URL('browser.md', out), `${report}\n`)
    return 0
  } finally {
    await browser?.close()
    rmSync(work, { recursive: true, force: true })
  }
}

/** Mask lengths: a logistic-regression head's secure vector and an MLP head's (bench:secagg's d). */
const MASK_WORDS = [12_810, 328_453] as const

/** Masks applied per call, as a participant applies its k − 1 pair masks and its self-mask in one batch. */
const MASKS_PER_CALL = 8

/** Segment sizes (words) and encrypt calls in flight tried at d = 328,453 beside the defaults. */
const SEGMENT_SWEEP = [
  [16_384, 8],
  [65_536, 4],
  [65_536, 8],
  [65_536, 16],
  [262_144, 8],
] as const

type MaskRate = {
  readonly words: number
  /** The path before segments: one encrypt per whole mask, 4 in flight (applyKeystreams over naclCrypto.keystream). */
  readonly whole: readonly number[]
  /** naclCrypto.applyMasks: segments of SEGMENT_WORDS, SEGMENTS_IN_FLIGHT in flight, each added as it lands. */
  readonly segmented: readonly number[]
}

type SegmentRate = {
  readonly segmentWords: number
  readonly inFlight: number
  readonly rates: readonly number[]
}

type MaskResult = { readonly rates: readonly MaskRate[]; readonly sweep: readonly SegmentRate[] }

/**
 * The volunteer page's own masking code (protocol/src/secagg: naclCrypto, applyKeystreams,
 * webCryptoApplyMasks), bundled by Vite into one script that the bench page loads: the page times
 * the real functions, not a copy of them.
 */
async function pageMaskCode(): Promise<string> {
  return bundlePageScript(fileURLToPath(new URL('page-masks.ts', import.meta.url)), 'fedtuneMasks')
}

/**
 * What a volunteer's masks cost in the page, MASKS_PER_CALL masks added into one vector per call and
 * calls repeated for at least 0.3 s per sample, MB/s (10^6 bytes) of keystream applied, add included.
 * The two paths alternate, five samples of each per length; then the segment sweep, three samples
 * each. Before timing, both paths must give the same words.
 */
async function measureMaskExpansion(setup: Setup): Promise<MaskResult> {
  const c = await coordinator(setup, 'bench-masks', { minParticipants: 1000, rounds: 1 })
  const page = await setup.browser.newPage()
  try {
    await page.goto(`${c.url}/join/`)
    await page.addScriptTag({ content: await pageMaskCode() })
    // A string, not a function: tsx would wrap named functions in a helper the page does not have.
    return (await page.evaluate(`(async () => {
      const { naclCrypto, applyKeystreams, webCryptoApplyMasks } = globalThis.fedtuneMasks
      const wholeMasks = { ...naclCrypto, applyMasks: undefined }
      const masks = Array.from({ length: ${MASKS_PER_CALL} }, (_, i) => ({
        key: crypto.getRandomValues(new Uint8Array(16)), sign: i % 2 === 0 ? 1 : -1,
      }))
      const rate = async (words, apply) => {
        const acc = new Uint32Array(words)
        let calls = 0
        const started = performance.now()
        while (performance.now() - started < 300) {
          await apply(acc)
          calls++
        }
        return (calls * masks.length * words * 4) / ((performance.now() - started) / 1000) / 1e6
      }
      const rates = []
      for (const words of ${JSON.stringify(MASK_WORDS)}) {
        const a = Uint32Array.from({ length: words }, (_, i) => Math.imul(i, 2654435761)), b = Uint32Array.from(a)
        await applyKeystreams(wholeMasks, a, masks)
        await naclCrypto.applyMasks(b, masks)
        if (a.some((w, i) => w !== b[i])) throw new Error('segmented and whole masks differ at ' + words + ' words')
        const whole = [], segmented = []
        for (let sample = 0; sample < 5; sample++) {
          whole.push(await rate(words, (acc) => applyKeystreams(wholeMasks, acc, masks)))
          segmented.push(await rate(words, (acc) => naclCrypto.applyMasks(acc, masks)))
        }
        rates.push({ words, whole, segmented })
      }
      const sweep = []
      for (const [segmentWords, inFlight] of ${JSON.stringify(SEGMENT_SWEEP)}) {
        const samples = []
        for (let sample = 0; sample < 3; sample++)
          samples.push(await rate(${MASK_WORDS[1]}, (acc) => webCryptoApplyMasks(crypto.subtle, acc, masks, { segmentWords, inFlight })))
        sweep.push({ segmentWords, inFlight, rates: samples })
      }
      return { rates, sweep }
    })()`)) as MaskResult
  } finally {
    await page.close()
    await c.close()
  }
}

/** A participant's neighbours at k = 41, bench:secagg's configuration. */
const CURVE_PEERS = 40

type CurveTimes = { readonly verify: readonly number[]; readonly agree: readonly number[] }

/**
 * A participant's curve operations per round at k = 41, in the page through WebCrypto as naclCrypto
 * runs them (webcrypto-curves.ts): CURVE_PEERS Ed25519 verifications in flight at once (a raw key
 * import and a verify each), and twice CURVE_PEERS X25519 agreements (one PKCS #8 import of the
 * secret key, then a raw import and deriveBits per peer). Keys and signatures are made beforehand;
 * 5 repetitions, ms each.
 */
async function measureCurves(setup: Setup): Promise<CurveTimes> {
  const c = await coordinator(setup, 'bench-curves', { minParticipants: 1000, rounds: 1 })
  const page = await setup.browser.newPage()
  try {
    await page.goto(`${c.url}/join/`)
    // A string, not a function: tsx would wrap named functions in a helper the page does not have.
    return (await page.evaluate(`(async () => {
      const subtle = crypto.subtle, peers = ${CURVE_PEERS}
      const message = new Uint8Array(150)
      const signers = await Promise.all(Array.from({ length: peers }, () => subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])))
      const publics = await Promise.all(signers.map((k) => subtle.exportKey('raw', k.publicKey)))
      const signatures = await Promise.all(signers.map((k) => subtle.sign({ name: 'Ed25519' }, k.privateKey, message)))
      const own = await subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])
      const pkcs8 = await subtle.exportKey('pkcs8', own.privateKey)
      const others = await Promise.all(Array.from({ length: peers }, () => subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])))
      const otherPublics = await Promise.all(others.map((k) => subtle.exportKey('raw', k.publicKey)))
      const verify = [], agree = []
      for (let rep = 0; rep < 6; rep++) {
        let t = performance.now()
        const ok = await Promise.all(publics.map(async (p, i) => {
          const key = await subtle.importKey('raw', p, { name: 'Ed25519' }, false, ['verify'])
          return subtle.verify({ name: 'Ed25519' }, key, signatures[i], message)
        }))
        if (!ok.every(Boolean)) throw new Error('a signature did not verify')
        if (rep > 0) verify.push(performance.now() - t)
        t = performance.now()
        for (let pass = 0; pass < 2; pass++) {
          const secret = await subtle.importKey('pkcs8', pkcs8, { name: 'X25519' }, false, ['deriveBits'])
          await Promise.all(otherPublics.map(async (p) => {
            const peer = await subtle.importKey('raw', p, { name: 'X25519' }, false, [])
            return subtle.deriveBits({ name: 'X25519', public: peer }, secret, 256)
          }))
        }
        if (rep > 0) agree.push(performance.now() - t)
      }
      return { verify, agree }
    })()`)) as CurveTimes
  } finally {
    await page.close()
    await c.close()
  }
}

function curveSection(curves: CurveTimes): string[] {
  const cell = (times: readonly number[]) =>
    `${median(times).toFixed(1)} ms (${Math.min(...times).toFixed(1)}–${Math.max(...times).toFixed(1)})`
  return [
    '',
    '### A participant’s curve operations in the page (WebCrypto Ed25519 and X25519)',
    '',
    `Per round at k = 41, as \`naclCrypto\` runs them: ${CURVE_PEERS} Ed25519 verifications in flight at once, and`,
    `twice ${CURVE_PEERS} X25519 agreements; 5 repetitions after one warm-up, median (min–max).`,
    '',
    markdownTable(
      ['operations', 'time per round'],
      [
        [`${CURVE_PEERS} verifications`, cell(curves.verify)],
        [`${2 * CURVE_PEERS} agreements`, cell(curves.agree)],
      ],
    ),
  ]
}

function maskSection({ rates, sweep }: MaskResult): string[] {
  const cell = (samples: readonly number[]) =>
    `${median(samples).toFixed(0)} (${Math.min(...samples).toFixed(0)}–${Math.max(...samples).toFixed(0)})`
  return [
    '',
    '### Mask expansion in the page (WebCrypto AES-128-CTR)',
    '',
    "What a volunteer's masks cost, timed on the page's own code (bundled from protocol/src/secagg):",
    `${MASKS_PER_CALL} masks added into one vector per call, calls repeated for 0.3 s, MB/s of keystream`,
    'applied, the addition included; 5 samples of each path, alternating, median (min–max).',
    '- whole masks: one encrypt per mask, 4 in flight, then added (`applyKeystreams` over',
    '  `naclCrypto.keystream`, the path before segments);',
    `- segments: \`naclCrypto.applyMasks\`, ${SEGMENT_WORDS.toLocaleString('en-US')}-word (256 KiB) segments, ${SEGMENTS_IN_FLIGHT} in flight,`,
    '  each added as it lands (webcrypto-masks.ts).',
    '',
    markdownTable(
      ['vector', 'whole masks', 'segments', 'segments / whole', 'per mask, segments'],
      rates.map(({ words, whole, segmented }) => [
        `${words.toLocaleString('en-US')} words (${((words * 4) / 1000).toFixed(1)} kB)`,
        cell(whole),
        cell(segmented),
        `${(median(segmented) / median(whole)).toFixed(2)}×`,
        `${((words * 4) / median(segmented) / 1000).toFixed(3)} ms`,
      ]),
    ),
    '',
    `Segment size and calls in flight at ${MASK_WORDS[1].toLocaleString('en-US')} words, 3 samples each, MB/s median (min–max):`,
    '',
    markdownTable(
      ['segment', 'in flight', 'MB/s'],
      sweep.map(({ segmentWords, inFlight, rates: samples }) => [
        `${segmentWords.toLocaleString('en-US')} words (${(segmentWords / 256).toFixed(0)} KiB)`,
        String(inFlight),
        cell(samples),
      ]),
    ),
  ]
}

/**
 * Page WebGL, page wasm and Node embed the same images, alternating in every repetition so the
 * machine's other load falls on all three alike. The coordinator needs more participants than
 * will ever come, so no round starts while the pages embed.
 */
async function measureEmbedding(
  setup: Setup,
  folder: string,
  images: number,
  reps: number,
  nodeBackend: { backend: string; detail: string },
): Promise<EmbeddingResult> {
  const renderer = await webglRenderer(setup.browser)
  log(`WebGL renderer: ${renderer}`)
  const page = new Map<'webgl' | 'wasm', EmbeddingRun[]>([
    ['webgl', []],
    ['wasm', []],
  ])
  const node: EmbeddingRun[] = []
  const c = await coordinator(setup, 'bench-embedding', { minParticipants: 1000, rounds: 1 })
  try {
    for (let rep = 1; rep <= reps; rep++) {
      for (const backend of ['webgl', 'wasm'] as const) {
        const v = await openVolunteer(setup.browser, c.url, folder, {
          images,
          backend,
          timeoutMs: PAGE_TIMEOUT_MS,
        })
        await v.page.close()
        if (v.backend !== backend)
          throw new Error(`asked the page for ${backend}, it embedded on ${v.backend}`)
        page.get(backend)?.push({
          rate: v.embedRate,
          steady: v.afterFirstStep,
          openToWaitingMs: v.openToWaitingMs,
          note: v.embedded,
        })
        log(
          `run ${rep}/${reps}, page ${backend}: ${rate(v.embedRate)} images/s (${v.afterFirstStep === null ? '?' : rate(v.afterFirstStep)} after the first step); the page: ${v.embedded}`,
        )
      }
      const measured = await nodeEmbedRate(setup, folder, images)
      node.push({ ...measured, openToWaitingMs: null, note: '' })
      log(
        `run ${rep}/${reps}, Node ${nodeBackend.backend}: ${rate(measured.rate)} images/s (${measured.steady === null ? '?' : rate(measured.steady)} after the first batch)`,
      )
    }
  } finally {
    await c.close()
  }
  return {
    renderer,
    page,
    node,
    nodeBackend: nodeBackend.detail.split(';')[0] ?? nodeBackend.backend,
  }
}

/**
 * The Node client's embedding as prepare() does it (client-node/src/prepare.ts): embedFolder with a
 * freshly loaded backbone into an empty cache, timed over embedFolder alone (reading, hashing and
 * decoding the files, embedding, writing the cache).
 */
async function nodeEmbedRate(
  setup: Setup,
  folder: string,
  images: number,
): Promise<{ rate: number; steady: number | null }> {
  const cacheDir = mkdtempSync(join(setup.work, 'node-cache-'))
  const backbone = await loadBackbone(setup.backbone.source, setup.backbone.sha256)
  try {
    const batches: { done: number; at: number }[] = []
    const started = performance.now()
    const { dataset, fromCache } = await embedFolder(backbone, folder, {
      cacheDir,
      labels: LABELS,
      onProgress: (done) => batches.push({ done, at: performance.now() }),
    })
    const ended = performance.now()
    if (fromCache !== 0 || dataset.n !== images)
      throw new Error(
        `Node embedding: ${dataset.n} images, ${fromCache} from cache; expected ${images}, none`,
      )
    const first = batches[0]
    return {
      rate: (dataset.n * 1000) / (ended - started),
      steady: first && first.done < dataset.n ? ((dataset.n - first.done) * 1000) / (ended - first.at) : null,
    }
  } finally {
    backbone.dispose()
  }
}

/**
 * The same task twice: 2 Node hospitals and the volunteer page (which picks the default backend, as
 * a volunteer's browser would), then 3 Node hospitals. participantsPerRound = minParticipants = 3,
 * so every round has all three and round 1 waits until the third is online.
 */
async function measureFederations(setup: Setup, rounds: number, images: number): Promise<FederationResult[]> {
  const data = join(setup.work, 'round-data')
  const cache = (i: number) => join(setup.work, `hospital-cache-${i}`)
  const results: FederationResult[] = []

  {
    const c = await coordinator(setup, 'bench-rounds-browser', { minParticipants: 3, rounds })
    const hospitals: Hospital[] = []
    try {
      hospitals.push(hospital(c, 1, data, cache(1)), hospital(c, 2, data, cache(2)))
      // The page starts once both hospitals have embedded, so nothing else competes for the CPU.
      await within(Promise.all(hospitals.map((h) => h.prepared)), 300_000, 'the hospitals to prepare')
      log('2 hospitals ready; opening the volunteer page')
      const v = await openVolunteer(setup.browser, c.url, join(data, 'hospital-3'), {
        images,
        timeoutMs: PAGE_TIMEOUT_MS,
      })
      try {
        log(`volunteer waiting after ${(v.openToWaitingMs / 1000).toFixed(1)} s (${v.backend})`)
        await within(c.federation.done, 600_000, `${rounds} rounds`)
      } finally {
        await v.page.close()
      }
      const { page: _, ...volunteer } = v
      results.push(
        check({
          label: `2 Node hospitals + 1 browser volunteer (${v.backend})`,
          records: [...c.records],
          volunteer,
          lastJoinerPrepareMs: null,
        }),
      )
    } finally {
      for (const h of hospitals) h.participant.close()
      await c.close()
    }
  }

  {
    const c = await coordinator(setup, 'bench-rounds-node', { minParticipants: 3, rounds })
    const hospitals: Hospital[] = []
    try {
      // Hospitals 1 and 2 come back with their caches from the first federation; hospital 3's is
      // filled here, as a hospital that has taken part before has it.
      await prepare(c.federation.task, {
        coordinatorUrl: c.url,
        dataDir: join(data, 'hospital-3'),
        cacheDir: cache(3),
        valFraction: 0.1,
        seed: 0,
        log: createLogger('text', () => {}),
        progress: undefined,
      })
      hospitals.push(hospital(c, 1, data, cache(1)), hospital(c, 2, data, cache(2)))
      await within(Promise.all(hospitals.map((h) => h.prepared)), 300_000, 'the hospitals to prepare')
      log('2 hospitals ready; starting the third')
      const third = hospital(c, 3, data, cache(3))
      hospitals.push(third)
      await within(c.federation.done, 600_000, `${rounds} rounds`)
      results.push(
        check({
          label: '3 Node hospitals',
          records: [...c.records],
          volunteer: null,
          lastJoinerPrepareMs: await third.prepared,
        }),
      )
    } finally {
      for (const h of hospitals) h.participant.close()
      await c.close()
    }
  }
  return results
}

/**
 * Every round must have aggregated all three, the volunteer among them where there is one: a bench
 * that timed failed rounds, or rounds without the page, would mislead.
 */
function check(result: FederationResult): FederationResult {
  for (const r of result.records) {
    const survivors = r.survivors ?? []
    const volunteers = survivors.filter((name) => name.startsWith('volunteer-')).length
    if (r.status !== 'aggregated' || survivors.length !== 3 || volunteers !== (result.volunteer ? 1 : 0))
      throw new Error(
        `${result.label}: round ${r.round} ${r.status}${r.reason ? ` (${r.reason})` : ''} with ${survivors.join(', ')}`,
      )
  }
  log(`${result.label}: rounds of ${result.records.map((r) => seconds(r.durationMs)).join(', ')}`)
  return result
}

async function coordinator(
  setup: Setup,
  name: string,
  opts: { readonly minParticipants: number; readonly rounds: number },
): Promise<RunningCoordinator> {
  const task = parseTaskFile(
    {
      name,
      description: 'Chest X-rays (PneumoniaMNIST): tell pneumonia from normal.',
      backbone: setup.backbone,
      head: { layers: [], labels: LABELS, seed: 7 },
      training: {
        rounds: opts.rounds,
        localEpochs: 2,
        batchSize: 16,
        optimizer: 'adam',
        learningRate: 0.01,
      },
      participation: {
        minParticipants: opts.minParticipants,
        participantsPerRound: opts.minParticipants,
        gatherSeconds: 1,
        roundDeadlineSeconds: 180,
        joinTimeoutSeconds: 3600,
        browsers: { enabled: true, maxPerRound: 1 },
      },
    },
    setup.work,
  )
  return startCoordinator({
    task,
    port: 0,
    outDir: join(setup.work, `run-${name}`),
    cacheDir: join(setup.work, 'coordinator-cache'),
    quiet: true,
    print: () => {},
    webDir: setup.webDir,
  })
}

/**
 * Where the hospitals' progress bars go: nowhere. `progress: undefined` is documented as "none" but
 * progressTo's default parameter turns it into stderr (model/src/node/progress-bar.ts).
 */

type Hospital = {
  readonly participant: Participant
  /** Resolves with the milliseconds from start until its data is prepared (backbone, embeddings). */
  readonly prepared: Promise<number>
}

function hospital(c: RunningCoordinator, i: number, data: string, cacheDir: string): Hospital {
  mkdirSync(cacheDir, { recursive: true })
  const started = performance.now()
  let ready!: (ms: number) => void
  const prepared = new Promise<number>((resolve) => {
    ready = resolve
  })
  const participant = new Participant({
    coordinatorUrl: c.url,
    dataDir: join(data, `hospital-${i}`),
    cacheDir,
    name: `hospital-${i}`,
    valFraction: 0.1,
    agent: 'bench',
    // prepare() says "data <folder>: …" once the backbone is loaded and the images are embedded.
    log: createLogger('text', (line) => {
      if (line.startsWith('data ')) ready(performance.now() - started)
    }),
    progress: undefined,
    identitySeed: nodeCrypto.randomBytes(32),
    allowPlaintext: false,
  })
  const failed = participant.done.then(
    () => new Promise<never>(() => {}),
    (error: Error) => {
      throw new Error(`hospital-${i}: ${error.message}`)
    },
  )
  return { participant, prepared: Promise.race([prepared, failed]) }
}

function embeddingSection(e: EmbeddingResult, images: number, reps: number): string[] {
  // The page's own words for its wasm set-up, the last clause of "… on wasm: [why; ]WebAssembly with SIMD, 1 thread."
  const wasmNote = e.page.get('wasm')?.[0]?.note.split('on wasm: ')[1]?.replace(/\.$/, '').split('; ').at(-1)
  const rows = [
    ...(['webgl', 'wasm'] as const).map((backend) => {
      const runs = e.page.get(backend) ?? []
      return [
        `page, ${backend}${backend === 'webgl' ? ' (SwiftShader, see below)' : wasmNote ? ` (${wasmNote})` : ''}`,
        ...rateCells(runs),
        seconds(median(runs.map((r) => r.openToWaitingMs ?? 0))),
      ]
    }),
    [`Node client, ${e.nodeBackend}`, ...rateCells(e.node), '–'],
  ]
  return [
    `### Embedding throughput, ${images} PneumoniaMNIST images, ${reps} runs each`,
    '',
    '- images/s: images / seconds over decoding and embedding with MobileNetV2-0.35 (224 px, 1280-d):',
    '  in the page its own `body[data-embed-rate]`, measured by the volunteer page from the first image',
    '  decoded to the last embedding; in Node `embedFolder` with a fresh cache (also reading, hashing',
    '  and caching the files). Both include the first batch, so warm-up (shader compilation on WebGL)',
    '  counts, as a volunteer pays it.',
    '- page runs: each a fresh page in a fresh browser context opening /join?backend=…, picking the',
    '  folder, opting in and joining; the order is WebGL, wasm, Node in every repetition.',
    `- after the first step: images/s from the end of the first step (the page's ${STEP} images, Node's`,
    '  first batch of 32) to the last image, i.e. without the warm-up; in the page from its progress bar.',
    '- open → waiting: from navigating to /join until the page waits for a round (page load, backbone',
    '  download and SHA-256 check, backend set-up, embedding), median.',
    '',
    markdownTable(
      [
        'where, backend',
        'images/s median',
        'min–max',
        'runs, in order',
        'after the first step, median',
        'open → waiting',
      ],
      rows,
    ),
    '',
    `WebGL renderer (UNMASKED_RENDERER_WEBGL of a fresh canvas): ${e.renderer}.`,
    '',
  ]
}

function rateCells(runs: readonly EmbeddingRun[]): string[] {
  const rates = runs.map((r) => r.rate)
  const steady = runs.map((r) => r.steady).filter((r): r is number => r !== null)
  return [
    rate(median(rates)),
    `${rate(Math.min(...rates))}–${rate(Math.max(...rates))}`,
    rates.map(rate).join(', '),
    steady.length === 0 ? '–' : rate(median(steady)),
  ]
}

function federationSection(results: readonly FederationResult[], rounds: number, images: number): string[] {
  const rows = results.map((f) => {
    const durations = f.records.map((r) => r.durationMs)
    return [
      f.label,
      `${f.records.length}`,
      seconds(median(durations)),
      `${seconds(Math.min(...durations))}–${seconds(Math.max(...durations))}`,
      durations.map(seconds).join(', '),
      f.volunteer ? `${seconds(f.volunteer.openToWaitingMs)} (${rate(f.volunteer.embedRate)} images/s)` : '–',
    ]
  })
  const third = results.find((f) => f.lastJoinerPrepareMs !== null)?.lastJoinerPrepareMs ?? undefined
  return [
    `### One secure round with the browser participant, ${rounds} rounds per configuration`,
    '',
    `- task: logistic-regression head (1280 → 2), 2 local epochs of Adam, batch 16, ${images} images per`,
    '  participant (10 % held out), SecAgg+ with the default parameters, gatherSeconds 1, no held-out',
    '  evaluation; minParticipants = participantsPerRound = 3, so all three are in every round.',
    '- round: the coordinator’s `durationMs` (round start to aggregation, all four SecAgg+ stages),',
    '  aggregated rounds only; median, min–max and every round in order.',
    '- the Node hospitals are in-process `Participant`s: they, the coordinator and their training share',
    '  one Node thread, while the page trains (tfjs) and masks (tweetnacl, WebCrypto) in its own Web',
    '  Worker in Chromium. Round 1 with the page also pays that worker’s first training (tfjs setting up',
    '  its backend), which later rounds do not.',
    '- the volunteer page picks its backend as a volunteer’s would; its open → waiting is as above',
    `  (for ${images} images). The page joins only once it has embedded, so round 1 starts with it ready;`,
    '  a Node hospital joins first and prepares after, so in the 3-hospital run round 1 includes the',
    `  third hospital’s start-up from its cache${third === undefined ? '' : ` (${seconds(third)} from start to prepared)`}.`,
    '',
    markdownTable(
      ['configuration', 'rounds', 'round median', 'min–max', 'rounds, in order', 'volunteer open → waiting'],
      rows,
    ),
    '',
  ]
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up waiting ${ms / 1000} s for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

function positive(flag: string, value: string | undefined, min: number): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${flag}: expected a whole number ≥ ${min}, got ${value}`)
  return n
}

function rate(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1)
}

function seconds(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  return `${(ms / 1000).toFixed(ms >= 10_000 ? 1 : 2)} s`
}

function log(line: string): void {
  process.stderr.write(`${line}\n`)
}

process.exitCode = await main().catch((error: unknown) => {
  // Printed here: tfjs-backend-wasm's Emscripten module rethrows unhandled rejections with a page of
  // its own minified source.
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  return 1
})
