/**
 * A coordinator's round loop, reduced to the store: opens the store at argv[2] and commits the rounds of
 * run argv[3] one after another, from the one after the last committed, printing one JSON line per step
 * ({"opening"}, {"ready": last}, {"committed": round}) for the parent, which kills it with SIGKILL at
 * some point. Exits when its stdin closes (the parent is gone) or after argv[4] rounds (0: none, holding the store open).
 */
import { openStore } from '@fedtune/coordinator/store'

const [location, runArg, maxArg] = process.argv.slice(2)
if (location === undefined || runArg === undefined)
  throw new Error('usage: commit-rounds.ts <location> <run id> [max rounds]')
const runId = Number(runArg)
const max = Number(maxArg ?? 100_000)
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()

const say = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`)

say({ opening: location })
const store = await openStore(location)
const last = (await store.rounds.last(runId))?.round ?? 0
say({ ready: last })
// Zero rounds: hold the store open until the parent closes stdin (or kills it).
if (max === 0) await new Promise(() => {})
for (let round = last + 1; round <= last + max; round++) {
  const record = {
    round,
    status: round % 5 === 0 ? 'failed' : 'aggregated',
    startedAt: new Date(0).toISOString(),
    selected: Array.from({ length: 40 }, (_, i) => `hospital-${i}`),
    contributions: Array.from({ length: 40 }, (_, i) => ({ name: `hospital-${i}`, examples: i * round })),
  } as const
  await store.rounds.commit(runId, record, record.status === 'failed' ? null : `heads/${round}.f32`)
  say({ committed: round })
}
await store.close()
process.exit(0)
