import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { RoundRecord } from '../rounds/round-record.ts'
import { buildRoundRecord } from '../rounds/round-record.ts'
import { RunFolderError } from '../store/run-folder.ts'
import { accountedRounds } from './accounted-rounds.ts'
import { privacyRecord, type RoundPrivacy } from './round-privacy.ts'

/**
 * A private secure round whose unmasking is about to be asked for, kept in the run folder
 * (`unmasking.json`) before any share is asked: from then on its sum may be revealed, and a
 * coordinator that crashes before the round's record is kept must still account it when it
 * carries the run on (`--resume`, or a restart: `lostRoundRecord`).
 */
export type UnmaskingMark = {
  readonly round: number
  /** How many survivors' masked inputs the unmasking covers: what the round is accounted with. */
  readonly survivors: number
  readonly selected: readonly string[]
  /** When the round started (epoch ms). */
  readonly startedAt: number
}

export function unmaskingMarkFile(dir: string): string {
  return join(dir, 'unmasking.json')
}

/** Writes the mark whole and fsyncs it before it replaces the last one: it is on disk before any share is asked. */
export function writeUnmaskingMark(dir: string, mark: UnmaskingMark): void {
  const file = unmaskingMarkFile(dir)
  const fd = openSync(`${file}.tmp`, 'w', 0o600)
  try {
    writeSync(fd, `${JSON.stringify(mark)}\n`)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(`${file}.tmp`, file)
}

/** The run folder's last mark; null when no private round of the run reached its unmask stage. */
export function readUnmaskingMark(dir: string): UnmaskingMark | null {
  const file = unmaskingMarkFile(dir)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
  let parsed: unknown = null
  try {
    parsed = JSON.parse(text)
  } catch {
    // reported below with what was found: the budget spent would be unknown
  }
  const o = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>
  const count = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
  if (
    !count(o.round) ||
    !count(o.survivors) ||
    !count(o.startedAt) ||
    !Array.isArray(o.selected) ||
    !o.selected.every((s) => typeof s === 'string')
  )
    throw new RunFolderError(
      `cannot continue: ${file} should say which round's unmasking was asked for ({ round, survivors, selected, startedAt }), got ${JSON.stringify(text.slice(0, 200))}; the privacy budget it spent would be unknown`,
    )
  return {
    round: o.round as number,
    survivors: o.survivors as number,
    selected: [...(o.selected as string[])],
    startedAt: o.startedAt as number,
  }
}

/**
 * The record of the round a coordinator lost after asking for its unmasking (it crashed before the
 * round's record was kept): failed, accounted with the mark's survivors after the kept rounds. null
 * when the mark's round is kept already (or there is none).
 */
export function lostRoundRecord(
  mark: UnmaskingMark | null,
  records: readonly RoundRecord[],
  privacy: RoundPrivacy,
  now: number,
): RoundRecord | null {
  const last = records.at(-1)?.round ?? 0
  if (mark === null || mark.round <= last) return null
  if (mark.round !== last + 1)
    throw new RunFolderError(
      `cannot continue: the run folder says round ${mark.round}'s unmasking was asked for, but the last round kept is ${last}`,
    )
  return buildRoundRecord(
    {
      type: 'round-failed',
      round: mark.round,
      reason: `the coordinator stopped during the round's unmask stage (it did not close: a crash or a kill); its ${mark.survivors} survivors are accounted`,
      contributions: [],
      dropped: mark.selected,
      privacy: privacyRecord(privacy, accountedRounds(records), mark.survivors),
    },
    {
      selected: mark.selected,
      labels: [],
      startedAt: mark.startedAt,
      endedAt: Math.max(now, mark.startedAt),
      best: records.at(-1)?.best ?? null,
    },
  )
}
