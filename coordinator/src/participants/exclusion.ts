import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * A participant a secure round's complaints named the culprit (protocol/src/secagg/complaint.ts):
 * it is out of the rest of the run. `by` is the participant whose complaint named it (itself, for
 * a false complaint). The round record lists them (`excluded`, and `disputed` for pairs the
 * coordinator could not settle, who are not excluded).
 */
export type Exclusion = { readonly participant: string; readonly by: string; readonly reason: string }

/** An exclusion as the run folder keeps it, with the round that decided it. */
export type ExcludedEntry = Exclusion & { readonly round: number }

/**
 * The excluded participants of a run live in its folder (excluded.json, beside participants.json),
 * so a resumed coordinator keeps refusing them. Re-admission is an operator's decision: today, by
 * editing the file while the coordinator is stopped.
 */
export function readExclusions(dir: string): Map<string, ExcludedEntry> {
  const file = join(dir, 'excluded.json')
  if (!existsSync(file)) return new Map()
  const entries = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Omit<ExcludedEntry, 'participant'>>
  return new Map(Object.entries(entries).map(([participant, e]) => [participant, { participant, ...e }]))
}

export function writeExclusion(dir: string, entry: ExcludedEntry): void {
  const entries = Object.fromEntries(
    [...readExclusions(dir), [entry.participant, entry] as const].map(([name, e]) => [
      name,
      { round: e.round, by: e.by, reason: e.reason },
    ]),
  )
  const file = join(dir, 'excluded.json')
  writeFileSync(`${file}.tmp`, `${JSON.stringify(entries, null, 2)}\n`)
  renameSync(`${file}.tmp`, file)
}
