import { execFile, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { issueInvite, type RoundRecord } from '@fedtune/coordinator'
import { decodeImage } from '@fedtune/model/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMainCoordinator } from '../harness.ts'
import { bmp, read } from '../model/dicom/dcmtk.ts'
import { splitPneumonia } from '../pneumonia-split.ts'

/**
 * Issue 14, item 4: the same small federation on PneumoniaMNIST PNG folders and on their DICOM
 * conversions by dcmtk (img2dcm, then RLE, JPEG-LS and JPEG lossless in turn, all lossless) reaches
 * the same held-out accuracy, the coordinator's held-out set converted too.
 */
const repo = fileURLToPath(new URL('../../', import.meta.url))
const _shared = join(repo, '..', 'shared')
const bin = join(repo, 'cli', 'bin', 'fedtune.js')
const run = promisify(execFile)
const HOSPITALS = 2
const LABELS = ['normal', 'pneumonia']
const COMPRESS: readonly (readonly string[] | null)[] = [null, ['dcmcrle'], ['dcmcjpls'], ['dcmcjpeg', '+e1']]

let work: string
const outcome: Record<'png' | 'dicom', { records: RoundRecord[]; logs: string[]; exits: number[] }> = {
  png: { records: [], logs: [], exits: [] },
  dicom: { records: [], logs: [], exits: [] },
}

/** Every PNG under `from` as a DICOM file under `to`, the same relative path with .dcm; four at a time. */
async function toDicom(from: string, to: string): Promise<void> {
  const files = readdirSync(from)
    .sort()
    .flatMap((label) => {
      mkdirSync(join(to, label), { recursive: true })
      return readdirSync(join(from, label))
        .sort()
        .map((name) => ({ png: join(from, label, name), stem: join(to, label, name.replace(/\.png$/, '')) }))
    })
  const convert = async ({ png, stem }: { png: string; stem: string }, n: number) => {
    writeFileSync(`${stem}.bmp`, bmp(await decodeImage(read(png), png)))
    const compress = COMPRESS[n % COMPRESS.length]
    await run('img2dcm', ['-i', 'BMP', `${stem}.bmp`, compress ? `${stem}.plain` : `${stem}.dcm`])
    if (compress) {
      const [tool, ...args] = compress as [string, ...string[]]
      await run(tool, [...args, `${stem}.plain`, `${stem}.dcm`])
      rmSync(`${stem}.plain`)
    }
    rmSync(`${stem}.bmp`)
  }
  for (let start = 0; start < files.length; start += 4)
    await Promise.all(files.slice(start, start + 4).map((f, k) => convert(f, start + k)))
}

async function federate(kind: 'png' | 'dicom', data: string): Promise<void> {
  const c = await startMainCoordinator({
    head: { layers: [{ type: 'dense', units: 16, activation: 'relu' }], labels: LABELS, seed: 3 },
    training: { rounds: 2, localEpochs: 2, batchSize: 16, optimizer: 'adam', learningRate: 0.001 },
    participation: {
      minParticipants: HOSPITALS,
      participantsPerRound: HOSPITALS,
      roundDeadlineSeconds: 240,
      joinTimeoutSeconds: 240,
    },
    evaluation: { test: join(data, 'test') },
  })
  try {
    const exits: Promise<number>[] = []
    for (let i = 1; i <= HOSPITALS; i++) {
      const { code } = await issueInvite(c.store, {
        task: 'main',
        participant: `hospital-${i}`,
        createdBy: 'test',
      })
      const child = spawn(
        process.execPath,
        [
          bin,
          'client',
          '--coordinator',
          c.url,
          '--data',
          join(data, `hospital-${i}`),
          '--cache',
          join(work, `cache-${kind}-${i}`),
          '--name',
          `hospital-${i}`,
          '--invite',
          code,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      )
      let log = ''
      child.stdout?.on('data', (b: Buffer) => {
        log += b.toString()
      })
      child.stderr?.on('data', (b: Buffer) => {
        log += b.toString()
      })
      exits.push(
        new Promise((resolve) =>
          child.once('exit', (code) => {
            outcome[kind].logs.push(log)
            resolve(code ?? -1)
          }),
        ),
      )
    }
    await c.federation.done
    outcome[kind].exits = await Promise.all(exits)
    outcome[kind].records = [...c.records]
  } finally {
    await c.close()
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fedtune-dicom-e2e-'))
  const png = join(work, 'png')
  await splitPneumonia(png, { hospitals: HOSPITALS, perHospital: 16, testLimit: 24, seed: 11 })
  const dicom = join(work, 'dicom')
  for (const site of [...Array.from({ length: HOSPITALS }, (_, i) => `hospital-${i + 1}`), 'test'])
    await toDicom(join(png, site), join(dicom, site))
  // one more file at hospital 1, truncated: skipped and reported, so the dataset is the PNGs' again
  const first = join(dicom, 'hospital-1', 'normal')
  const some = readdirSync(first).sort()[0] as string
  writeFileSync(join(first, 'zz-cut.dcm'), read(join(first, some)).subarray(0, 400))
  await federate('png', png)
  await federate('dicom', dicom)
}, 600_000)

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true })
})

describe('a federation on DICOM folders', () => {
  it('completes on both the PNG folders and their DICOM conversions', () => {
    for (const kind of ['png', 'dicom'] as const) {
      expect(outcome[kind].exits, outcome[kind].logs.join('\n----\n')).toEqual([0, 0])
      expect(outcome[kind].records.map((r) => r.status)).toEqual(['aggregated', 'aggregated'])
    }
    expect(outcome.png.logs.join('\n')).not.toMatch(/skipped/)
  })

  it('the hospital with a truncated DICOM file says it skipped it, why, and where the list is', () => {
    const list = join(work, 'cache-dicom-1', 'skipped-files.tsv')
    const log = outcome.dicom.logs.find((l) => l.includes('zz-cut.dcm')) ?? ''
    expect(log).toContain(`skipped 1 of 17 files that could not be decoded (all listed in ${list}):`)
    expect(log).toMatch(/zz-cut\.dcm: DICOM file .*truncated/)
    expect(readFileSync(list, 'utf8')).toMatch(/^\S*zz-cut\.dcm\tDICOM file .*truncated.*\n$/)
    expect(outcome.dicom.logs.filter((l) => l.includes('skipped'))).toHaveLength(1)
  })

  it('reaches the same held-out accuracy on DICOM as on the PNGs it came from, every round', () => {
    const png = outcome.png.records.map((r) => r.test)
    const dicom = outcome.dicom.records.map((r) => r.test)
    expect(png.every((g) => g?.examples === 24)).toBe(true)
    expect(dicom).toEqual(png)
  })
})
