import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { appendHistory, type HistoryEntry, historyFile, readHistory } from '@fedtune/client-node'
import { afterAll, describe, expect, it } from 'vitest'
import { runClientCommand } from '../../cli/src/client-command.ts'
import { historyTable } from '../../cli/src/client-history-command.ts'
import { testIo } from '../cli/test-io.ts'

const work = mkdtempSync(join(tmpdir(), 'fedtune-history-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const entry = (round: number, more: Partial<HistoryEntry> = {}): HistoryEntry => ({
  round,
  time: '2026-12-02T10:00:00.000Z',
  task: 'xray',
  outcome: 'aggregated',
  reason: null,
  bytesSent: 10_342,
  examples: 90,
  global: { accuracy: 0.8, auc: 0.9, examples: 10, balancedAccuracy: 0.75, recall: [0.9, 0.6] },
  privacy: null,
  coordinatorEpsilon: null,
  ...more,
})

describe('the hospital’s round history', () => {
  it('lives at <cache>/history/<task>/<name>.jsonl, one line per round, read back in order', () => {
    const file = historyFile(join(work, 'a'), 'xray', 'hospital-1')
    expect(file).toBe(join(work, 'a', 'history', 'xray', 'hospital-1.jsonl'))
    appendHistory(file, entry(1))
    appendHistory(file, entry(2, { outcome: 'dropped', reason: 'stopped', global: null }))
    expect(readFileSync(file, 'utf8').split('\n')).toHaveLength(3)
    expect(readHistory(file)).toEqual({
      entries: [entry(1), entry(2, { outcome: 'dropped', reason: 'stopped', global: null })],
      unreadable: 0,
    })
  })

  it('a task name that would leave the cache is refused', () => {
    expect(() => historyFile(work, '../../etc', 'h')).toThrow(
      'history: expected a task of letters, digits, ".", "_" or "-", got "../../etc"',
    )
  })

  it('a torn last line (a crash mid-write) is counted, not fatal, and the next entry starts a line of its own', () => {
    const file = historyFile(join(work, 'b'), 'xray', 'h')
    appendHistory(file, entry(1))
    appendFileSync(file, JSON.stringify(entry(2)).slice(0, 40))
    expect(readHistory(file)).toEqual({ entries: [entry(1)], unreadable: 1 })
    appendHistory(file, entry(3))
    expect(readHistory(file)).toEqual({ entries: [entry(1), entry(3)], unreadable: 1 })
  })

  it('a missing file is an empty history; a line that is JSON but not an entry is unreadable', () => {
    expect(readHistory(join(work, 'none.jsonl'))).toEqual({ entries: [], unreadable: 0 })
    const file = historyFile(join(work, 'c'), 'xray', 'h')
    mkdirSync(dirname(file), { recursive: true })
    appendFileSync(file, `${JSON.stringify({ ...entry(1), outcome: 'won' })}\n${JSON.stringify(entry(2))}\n`)
    expect(readHistory(file)).toEqual({ entries: [entry(2)], unreadable: 1 })
  })

  it('prints as a table with the privacy budget reserved', () => {
    expect(
      historyTable([
        entry(1),
        entry(2, { outcome: 'failed', reason: 'too few', global: null, bytesSent: 12 }),
      ]),
    ).toBe(`round  outcome     sent     global ACC  global BAL  global AUC  val images  ε ledger  ε coordinator  time                      reason
1      aggregated  10.3 kB  0.800       0.750       0.900       10          —         —              2026-12-02T10:00:00.000Z
2      failed      12 B     -           -           -           -           —         —              2026-12-02T10:00:00.000Z  too few
`)
  })

  it('under privacy each round says the ε spent by its end by the hospital’s ledger and by the coordinator’s report, side by side', () => {
    const file = historyFile(join(work, 'e'), 'xray', 'h')
    appendHistory(file, entry(1, { privacy: 1.2345, coordinatorEpsilon: 1.1987 }))
    appendHistory(file, entry(2, { privacy: 12.345, coordinatorEpsilon: 13.02 }))
    // no result came (the hospital stopped mid-round): the coordinator said nothing of it
    appendHistory(file, entry(3, { outcome: 'dropped', reason: 'stopped', privacy: 12.345 }))
    expect(readHistory(file).entries.map((e) => [e.privacy, e.coordinatorEpsilon])).toEqual([
      [1.2345, 1.1987],
      [12.345, 13.02],
      [12.345, null],
    ])
    const rows = historyTable(readHistory(file).entries).trimEnd().split('\n')
    expect(rows.map((l) => l.split(/ {2,}/).slice(7, 9))).toEqual([
      ['ε ledger', 'ε coordinator'],
      ['1.23', '1.20'],
      ['12.3', '13.0'],
      ['12.3', '-'],
    ])
  })

  it('reads an entry written before the coordinator’s ε was kept, with it as null', () => {
    const file = historyFile(join(work, 'f'), 'xray', 'h')
    mkdirSync(dirname(file), { recursive: true })
    const { coordinatorEpsilon: _, ...old } = entry(1, { privacy: 2.5 })
    appendFileSync(
      file,
      `${JSON.stringify(old)}\n${JSON.stringify({ ...old, coordinatorEpsilon: 'high' })}\n`,
    )
    expect(readHistory(file)).toEqual({ entries: [entry(1, { privacy: 2.5 })], unreadable: 1 })
  })

  it('reads an entry written before balanced accuracy and recall were kept, with those as null', () => {
    const file = historyFile(join(work, 'd'), 'xray', 'h')
    mkdirSync(dirname(file), { recursive: true })
    const old = { ...entry(1), global: { accuracy: 0.8, auc: 0.9, examples: 10 } }
    appendFileSync(file, `${JSON.stringify(old)}\n`)
    expect(readHistory(file).entries).toEqual([
      entry(1, { global: { accuracy: 0.8, auc: 0.9, examples: 10, balancedAccuracy: null, recall: null } }),
    ])
  })
})

describe('fedtune client history', () => {
  it('finds the cache and name in the client’s config file, and says when nothing is kept', async () => {
    const etc = join(work, 'etc')
    mkdirSync(etc, { recursive: true })
    writeFileSync(
      join(etc, 'client.json'),
      JSON.stringify({ coordinator: 'https://c.example', data: 'images', cache: 'cache', name: 'st-marys' }),
    )
    const t = testIo()
    expect(await runClientCommand(['history', '--config', join(etc, 'client.json')], t.io)).toBe(0)
    expect(t.out()).toBe(`no rounds kept for st-marys in ${join(etc, 'cache', 'history')}\n`)
    appendHistory(historyFile(join(etc, 'cache'), 'xray', 'st-marys'), entry(1))
    appendHistory(historyFile(join(etc, 'cache'), 'other', 'st-marys'), entry(1, { task: 'other' }))
    const u = testIo()
    expect(
      await runClientCommand(['history', '--config', join(etc, 'client.json'), '--task', 'xray'], u.io),
    ).toBe(0)
    expect(u.out().split('\n').slice(0, 3)).toEqual([
      `task xray, st-marys (${join(etc, 'cache', 'history', 'xray', 'st-marys.jsonl')})`,
      expect.stringMatching(/^round +outcome/),
      expect.stringMatching(/^1 +aggregated +10\.3 kB/),
    ])
    const all = testIo()
    expect(await runClientCommand(['history', '--config', join(etc, 'client.json')], all.io)).toBe(0)
    expect(all.out().match(/^task [^,]+/gm)).toEqual(['task other', 'task xray'])
  })

  it('a wrong option: status 2 and what was expected', async () => {
    const t = testIo()
    expect(await runClientCommand(['history', '--format', 'xml'], t.io)).toBe(2)
    expect(t.out()).toBe('fedtune client history: --format: expected json or text, got "xml"\n')
  })
})
