import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { reportSkipped, SKIPPED_SHOWN, skippedListFile } from '@fedtune/client-node'
import { afterAll, describe, expect, it } from 'vitest'

const cache = mkdtempSync(join(tmpdir(), 'fedtune-skipped-'))
afterAll(() => rmSync(cache, { recursive: true, force: true }))

describe('the summary of skipped files', () => {
  it('says nothing and writes nothing when no file was skipped', async () => {
    expect(await reportSkipped([], 10, cache)).toEqual([])
  })

  it('counts them, shows the first 20 with their reasons, and lists all in the cache folder', async () => {
    const skipped = Array.from({ length: 25 }, (_, i) => ({
      path: `/data/normal/${i}.dcm`,
      reason: i === 0 ? 'window width (0028,1051) is 0;\tsee\nthe standard' : `reason ${i}`,
    }))
    const lines = await reportSkipped(skipped, 100, cache)
    const file = skippedListFile(cache)
    expect(lines[0]).toBe(`skipped 25 of 100 files that could not be decoded (all listed in ${file}):`)
    expect(lines).toHaveLength(1 + SKIPPED_SHOWN + 1)
    expect(lines[2]).toBe('  /data/normal/1.dcm: reason 1')
    expect(lines.at(-1)).toBe('  … and 5 more')
    const listed = readFileSync(file, 'utf8').trimEnd().split('\n')
    expect(listed).toHaveLength(25)
    expect(listed[0]).toBe('/data/normal/0.dcm\twindow width (0028,1051) is 0; see the standard')
    expect(listed[24]).toBe('/data/normal/24.dcm\treason 24')
  })
})
