import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startCoordinator } from '@fedtune/coordinator/start'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { realTaskFile, startMainCoordinator, testDatabase } from '../harness.ts'
import { splitPneumonia } from '../pneumonia-split.ts'

/**
 * Issue 15, "Bad input", at the coordinator: the evaluation folders a task names are embedded by the
 * real code (live-run.ts, embedLabelledSet) when a run starts. One with no image of a label is warned
 * about with every label's count; one with a class the task does not know is refused, naming it.
 */
const LABELS = ['normal', 'pneumonia']
let work: string
let data: string

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fedtune-evaluation-folders-'))
  data = join(work, 'data')
  await splitPneumonia(data, { hospitals: 1, perHospital: 4, testLimit: 12, valLimit: 12, seed: 3 })
})

afterAll(() => rmSync(work, { recursive: true, force: true }))

describe('the evaluation folders of a task', () => {
  it('a test folder with no image of a label is warned about as the run starts, with the counts', async () => {
    const test = join(work, 'test-normal-only')
    cpSync(join(data, 'test'), test, { recursive: true })
    const normal = readdirSync(join(test, 'normal')).length
    rmSync(join(test, 'pneumonia'), { recursive: true })
    const c = await startMainCoordinator({
      head: { labels: LABELS },
      evaluation: { validation: join(data, 'validation'), test },
    })
    const warning = await c.line(/^warning: the test set /)
    expect(warning).toBe(
      `warning: the test set ${test} has no image of "pneumonia" (images per label: normal ${normal}, pneumonia 0); its figures say nothing of that label`,
    )
    // the validation set, which has both, is not warned about
    expect(c.lines.some((l) => l.startsWith('warning: the validation set'))).toBe(false)
  })

  it('a validation folder with a class the task does not know is refused as the run starts, naming it', async () => {
    const validation = join(work, 'validation-with-covid')
    cpSync(join(data, 'validation'), validation, { recursive: true })
    mkdirSync(join(validation, 'covid'))
    const first = readdirSync(join(validation, 'normal'))[0] as string
    cpSync(join(validation, 'normal', first), join(validation, 'covid', first))
    const task = await realTaskFile(
      'main',
      { head: { labels: LABELS }, evaluation: { validation, test: join(data, 'test') } },
      join(work, 'covid'),
    )
    const start = startCoordinator({
      task,
      port: 0,
      outDir: join(work, 'covid', 'run'),
      database: await testDatabase(),
      cacheDir: join(work, 'covid', 'cache'),
      quiet: true,
      print: () => {},
    })
    await expect(start).rejects.toThrow(
      `${join(validation, 'covid')}: "covid" is not a class of this task; expected subfolders named "normal", "pneumonia"`,
    )
  })
})
