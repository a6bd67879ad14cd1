import { Roster, rosterSlot } from '@fedtune/coordinator'
import { describe, expect, it } from 'vitest'

const sorted = (roster: Roster) => [...roster].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

describe('the roster of who is online', () => {
  it('holds each name once, with its latest kind, and counts the browsers', () => {
    const roster = Roster.EMPTY.with('h1', 'hospital').with('b1', 'browser').with('h2', 'hospital')
    expect(roster.size).toBe(3)
    expect(roster.browsers).toBe(1)
    expect(roster.get('b1')).toBe('browser')
    expect(roster.has('h2')).toBe(true)
    expect(roster.has('nobody')).toBe(false)
    expect(roster.get('nobody')).toBeUndefined()

    // the same name again: its kind replaced, not a second entry
    const changed = roster.with('b1', 'hospital')
    expect(changed.size).toBe(3)
    expect(changed.browsers).toBe(0)
    expect(changed.get('b1')).toBe('hospital')
    expect(roster.with('h1', 'hospital')).toBe(roster)
  })

  it('leaves the roster it came from as it was', () => {
    const before = Roster.of([
      ['a', 'hospital'],
      ['b', 'browser'],
    ])
    const joined = before.with('c', 'browser')
    const left = joined.without('b')
    expect(sorted(before)).toEqual([
      ['a', 'hospital'],
      ['b', 'browser'],
    ])
    expect(sorted(joined)).toEqual([
      ['a', 'hospital'],
      ['b', 'browser'],
      ['c', 'browser'],
    ])
    expect(sorted(left)).toEqual([
      ['a', 'hospital'],
      ['c', 'browser'],
    ])
    expect([before.browsers, joined.browsers, left.browsers]).toEqual([1, 2, 1])
    expect(left.without('nobody')).toBe(left)
  })

  it('agrees with a Map under thousands of joins and leaves, names sharing buckets included', () => {
    let roster = Roster.EMPTY
    const map = new Map<string, 'hospital' | 'browser'>()
    let x = 12345
    const next = () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0
      return x
    }
    for (let i = 0; i < 5000; i++) {
      const name = `p-${next() % 700}`
      if (next() % 3 === 0) {
        roster = roster.without(name)
        map.delete(name)
      } else {
        const kind = next() % 2 === 0 ? 'browser' : 'hospital'
        roster = roster.with(name, kind)
        map.set(name, kind)
      }
    }
    expect(roster.size).toBe(map.size)
    expect(roster.browsers).toBe([...map.values()].filter((k) => k === 'browser').length)
    expect(sorted(roster)).toEqual([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    expect([...roster.keys()].sort()).toEqual([...map.keys()].sort())
    expect([...roster.values()].filter((k) => k === 'hospital')).toHaveLength(roster.size - roster.browsers)
    for (let i = 0; i < 700; i++) expect(roster.get(`p-${i}`)).toBe(map.get(`p-${i}`))
  })

  it('keeps its counts over 40,000 joins and 20,000 leaves', () => {
    let roster = Roster.EMPTY
    for (let i = 0; i < 40_000; i++)
      roster = roster.with(`participant-${i}`, i % 5 === 0 ? 'browser' : 'hospital')
    expect(roster.size).toBe(40_000)
    expect(roster.browsers).toBe(8_000)
    for (let i = 0; i < 40_000; i += 2) roster = roster.without(`participant-${i}`)
    expect(roster.size).toBe(20_000)
    expect(roster.browsers).toBe(4_000)
  })

  it('cannot be filled one bucket deep by names chosen in advance: each process hashes with a seed of its own', () => {
    // 64 names that share one slot under seed 1, found the way a stranger with the seed would
    const crafted: string[] = []
    const target = rosterSlot('anchor', 1)
    for (let i = 0; crafted.length < 64; i++) if (rosterSlot(`v-${i}`, 1) === target) crafted.push(`v-${i}`)
    // under another seed they spread over the 4,096 slots as any names would
    expect(new Set(crafted.map((name) => rosterSlot(name, 2))).size).toBeGreaterThanOrEqual(55)
    expect(rosterSlot('anchor', 1)).not.toBe(rosterSlot('anchor', 2))

    // and sharing a bucket, they are still each their own entry
    let roster = Roster.of(crafted.map((name) => [name, 'browser'] as const))
    expect(roster.size).toBe(64)
    roster = Roster.empty(1)
    for (const name of crafted) roster = roster.with(name, 'browser')
    expect(roster.size).toBe(64)
    expect(crafted.every((name) => roster.get(name) === 'browser')).toBe(true)
    roster = roster.without(crafted[10] as string).with(crafted[20] as string, 'hospital')
    expect([roster.size, roster.browsers, roster.has(crafted[10] as string)]).toEqual([63, 62, false])
    expect(roster.get(crafted[20] as string)).toBe('hospital')
  })
})
