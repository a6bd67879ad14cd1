import { parseArgs } from 'node:util'
import { FEDAVG, initialState, type RoundConfig, step } from '@fedtune/coordinator'
import type { ParticipantKind } from '@fedtune/protocol'
import { markdownTable } from './markdown-table.ts'
import { median } from './stats.ts'

const USAGE = `Usage: npm run bench:joins -- [options]

What joins and leaves cost the coordinator's pure round logic (coordinator/src/rounds/round.ts),
no sockets: n participants join a waiting run (every fifth a browser) through step(), then every
other one leaves. Beside it, in the same run, what a Map copied at each join or leave costs, with
the browsers counted over everyone at each join: how who is online was kept before the Roster
(coordinator/src/rounds/roster.ts). The copying Map runs only up to --copy-max, as it is quadratic.

Options:
  --n <list>        participants, comma-separated             (default 1000,5000,20000,100000)
  --copy-max <n>    the largest n the copying Map is timed at  (default 10000)
  --repeats <n>     times each is run; medians are shown       (default 3)
  -h, --help
`

const config: RoundConfig = {
  rounds: 1,
  // never reached: the run waits, so each join asks whether a round could start
  minParticipants: Number.MAX_SAFE_INTEGER,
  participantsPerRound: Number.MAX_SAFE_INTEGER,
  maxBrowsersPerRound: 10,
  seed: 1,
  server: FEDAVG,
  secure: true,
  gatherMs: 0,
}

const nameOf = (i: number) => `participant-${i}`
const kindOf = (i: number): ParticipantKind => (i % 5 === 0 ? 'browser' : 'hospital')

/** Milliseconds for n joins and n/2 leaves through the round logic; checks who is left. */
function roundLogic(n: number): number {
  const started = performance.now()
  let state = initialState(config, new Float32Array(1))
  for (let i = 0; i < n; i++)
    [state] = step(state, { type: 'joined', participant: nameOf(i), kind: kindOf(i) })
  for (let i = 0; i < n; i += 2) [state] = step(state, { type: 'left', participant: nameOf(i) })
  const ms = performance.now() - started
  if (state.online.size !== n >> 1) throw new Error(`expected ${n >> 1} online, got ${state.online.size}`)
  return ms
}

/** The same joins and leaves on a Map copied at each, browsers counted at each join. */
function copyingMap(n: number): number {
  const started = performance.now()
  let online = new Map<string, ParticipantKind>()
  let selectable = 0
  for (let i = 0; i < n; i++) {
    online = new Map(online).set(nameOf(i), kindOf(i))
    let browsers = 0
    for (const kind of online.values()) if (kind === 'browser') browsers++
    selectable = online.size - browsers + Math.min(browsers, config.maxBrowsersPerRound)
  }
  for (let i = 0; i < n; i += 2) {
    online = new Map(online)
    online.delete(nameOf(i))
  }
  const ms = performance.now() - started
  if (selectable === 0) throw new Error('expected someone selectable')
  return ms
}

function main(): number {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '1000,5000,20000,100000' },
      'copy-max': { type: 'string', default: '10000' },
      repeats: { type: 'string', default: '3' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const sizes = values.n.split(',').map(Number)
  if (sizes.some((n) => !Number.isInteger(n) || n < 2))
    throw new Error(`--n: expected whole numbers ≥ 2, comma-separated, got "${values.n}"`)
  const copyMax = Number(values['copy-max'])
  if (!Number.isInteger(copyMax) || copyMax < 0)
    throw new Error(`--copy-max: expected a whole number ≥ 0, got "${values['copy-max']}"`)
  const repeats = Number(values.repeats)
  if (!Number.isInteger(repeats) || repeats < 1)
    throw new Error(`--repeats: expected 1 or more, got "${values.repeats}"`)

  roundLogic(2000) // warm-up
  const rows = sizes.map((n) => {
    const roster = median(Array.from({ length: repeats }, () => roundLogic(n)))
    const copied = n <= copyMax ? median(Array.from({ length: repeats }, () => copyingMap(n))) : Number.NaN
    process.stderr.write(`n = ${n} done\n`)
    return [
      n.toLocaleString('en'),
      `${roster.toFixed(1)} ms`,
      `${((roster * 1000) / (1.5 * n)).toFixed(2)} µs`,
      Number.isNaN(copied) ? '–' : `${copied.toFixed(1)} ms`,
      Number.isNaN(copied) ? '–' : `${(copied / roster).toFixed(0)}×`,
    ]
  })
  process.stdout.write(
    `n joins, then n/2 leaves; medians of ${repeats} (Node ${process.versions.node})\n\n${markdownTable(
      ['n', 'round logic (Roster)', 'per join or leave', 'copying Map alone', 'ratio'],
      rows,
    )}\n`,
  )
  return 0
}

process.exitCode = main()
