import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { appendSpentRound, privacyLedgerFile, readPrivacyLedger } from '@fedtune/client-node'
import { epsilonOf, type SpentRound } from '@fedtune/protocol'
import { afterAll, describe, expect, it } from 'vitest'

const work = mkdtempSync(join(tmpdir(), 'fedtune-ledger-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const spent = (round: number): SpentRound => ({
  task: 'xray',
  round,
  time: '2026-12-03T10:00:00.000Z',
  event: { kind: 'subsampled-gaussian', steps: 40, samplingRate: 0.05, noiseMultiplier: 1.1 },
})

describe('the hospital’s privacy ledger', () => {
  it('lives at <cache>/privacy/<task>/<name>.jsonl, one line per released round, this user’s alone', () => {
    const file = privacyLedgerFile(join(work, 'a'), 'xray', 'hospital-1')
    expect(file).toBe(join(work, 'a', 'privacy', 'xray', 'hospital-1.jsonl'))
    appendSpentRound(file, spent(1))
    appendSpentRound(file, spent(2))
    expect(readFileSync(file, 'utf8').split('\n')).toHaveLength(3)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readPrivacyLedger(file)).toEqual([spent(1), spent(2)])
  })

  it('survives a restart: what a new client reads gives the same ε as the rounds it kept', () => {
    const file = privacyLedgerFile(join(work, 'b'), 'xray', 'h')
    for (const round of [1, 2, 3]) appendSpentRound(file, spent(round))
    const read = readPrivacyLedger(file)
    expect(
      epsilonOf(
        read.map((s) => s.event),
        1e-5,
      ),
    ).toBe(
      epsilonOf(
        [spent(1), spent(2), spent(3)].map((s) => s.event),
        1e-5,
      ),
    )
    expect(readPrivacyLedger(privacyLedgerFile(join(work, 'b'), 'other-task', 'h'))).toEqual([])
  })

  it('a line a crash cut short is passed over (its update never went out), and cut off at the next round', () => {
    const file = privacyLedgerFile(join(work, 'c'), 'xray', 'h')
    appendSpentRound(file, spent(1))
    appendFileSync(file, JSON.stringify(spent(2)).slice(0, 30))
    expect(readPrivacyLedger(file)).toEqual([spent(1)])
    appendSpentRound(file, spent(3))
    expect(readPrivacyLedger(file)).toEqual([spent(1), spent(3)])
    expect(readFileSync(file, 'utf8')).toBe(`${JSON.stringify(spent(1))}\n${JSON.stringify(spent(3))}\n`)
  })

  it('refuses a ledger with a line it cannot read: the budget spent would be unknown', () => {
    const file = privacyLedgerFile(join(work, 'd'), 'xray', 'h')
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(
      file,
      `${JSON.stringify(spent(1))}\n{"task":"xray","round":2}\n${JSON.stringify(spent(3))}\n`,
    )
    expect(() => readPrivacyLedger(file)).toThrow(
      `the privacy ledger ${file} cannot be read at line 2 (line 2.time: expected a non-empty string, got undefined): the privacy budget spent cannot be known; restore the file or, as the hospital's own decision, remove it to start the budget over`,
    )
  })

  it('a task name that would leave the cache is refused', () => {
    expect(() => privacyLedgerFile(work, '../x', 'h')).toThrow(
      'privacy ledger: expected a task of letters, digits, ".", "_" or "-", got "../x"',
    )
  })
})
