import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { issueInvite } from '@fedtune/coordinator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type MainCoordinator, startMainCoordinator } from '../harness.ts'
import { splitPneumonia } from '../pneumonia-split.ts'

/**
 * Issue 14, item 3, "labels from a manifest": a hospital whose export is not sorted by class (nested
 * patient/study folders, files without an extension) takes part with `fedtune client --labels`,
 * next to one with class subfolders; a labels file with faulty rows stops its client before it
 * trains, every faulty row named by its line.
 */
const repo = fileURLToPath(new URL('../../', import.meta.url))
const _shared = join(repo, '..', 'shared')
const bin = join(repo, 'cli', 'bin', 'fedtune.js')
const LABELS = ['normal', 'pneumonia']

let c: MainCoordinator
let work: string
let flat: string
const invites: string[] = []

/** `fedtune client` as a process; resolves with its exit status and what it printed. */
function client(i: number, ...more: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = [
    'client',
    '--coordinator',
    c.url,
    '--cache',
    join(work, `cache-${i}`),
    '--name',
    `hospital-${i}`,
  ]
  const child: ChildProcess = spawn(process.execPath, [bin, ...args, ...more], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (b: Buffer) => {
    stdout += b.toString()
  })
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString()
  })
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr })))
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fedtune-client-labels-'))
  const data = join(work, 'data')
  await splitPneumonia(data, { hospitals: 2, perHospital: 12, testLimit: 4, seed: 5 })
  // hospital-2's export: one folder per patient, files named as a PACS names them, labels in a CSV
  flat = join(work, 'flat')
  const rows: string[] = []
  let k = 0
  for (const label of LABELS)
    for (const name of readdirSync(join(data, 'hospital-2', label)).sort()) {
      const patient = `P${String(k).padStart(3, '0')}`
      const study = k % 2 === 0 ? 'study 1' : 'study 2, follow-up'
      mkdirSync(join(flat, patient, study), { recursive: true })
      renameSync(join(data, 'hospital-2', label, name), join(flat, patient, study, `IM${k}`))
      rows.push(`"${patient}/${study}/IM${k}",${label},${patient}`)
      k++
    }
  writeFileSync(join(flat, 'export-notes.txt'), 'exported by the PACS')
  writeFileSync(join(work, 'labels.csv'), `\ufeffPath,Label,PatientID\r\n${rows.join('\r\n')}\r\n`)
  writeFileSync(
    join(work, 'bad-labels.csv'),
    `path,label,patient\n${rows[0]}\nP000/IM404,normal,P000\n${rows[1]?.replace(/,(normal|pneumonia),/, ',covid,')}\n../data/hospital-1/normal/x.png,normal,P9\n${rows[0]}\n`,
  )
  c = await startMainCoordinator({
    head: { labels: LABELS, seed: 1 },
    training: { rounds: 1, localEpochs: 1, batchSize: 8 },
    participation: { minParticipants: 2, roundDeadlineSeconds: 240, joinTimeoutSeconds: 240 },
    enrolment: { hospitals: 'invite' },
  })
  for (const i of [1, 2])
    invites.push(
      (await issueInvite(c.store, { task: 'main', participant: `hospital-${i}`, createdBy: 'test' })).code,
    )
}, 120_000)

afterAll(async () => {
  await c?.close()
  if (work) rmSync(work, { recursive: true, force: true })
})

describe('fedtune client --labels', () => {
  it('a labels file with faulty rows: exit 1 before training, every faulty row named by its line', async () => {
    const bad = await client(
      2,
      '--data',
      flat,
      '--labels',
      join(work, 'bad-labels.csv'),
      '--invite',
      invites[1] as string,
    )
    expect(bad.code).toBe(1)
    expect(bad.stdout).toContain(
      [
        '  line 3: no such file "P000/IM404" in the data folder',
        '  line 4: unknown label "covid"; the task\'s labels are "normal", "pneumonia"',
        '  line 5: "../data/hospital-1/normal/x.png" leads outside the data folder; expected a path inside it',
        '  line 6: "P000/study 1/IM0" is listed again (first on line 2)',
      ].join('\n'),
    )
    expect(bad.stderr).toContain(
      `fedtune client: ${join(work, 'bad-labels.csv')}: 4 problems, nothing was read; the problems are listed above\n`,
    )
  }, 240_000)

  it('a flat export labelled by a CSV (BOM, CRLF, quoted paths, an extra column) trains in a federation with a class-folder hospital', async () => {
    const [sorted, labelled] = await Promise.all([
      client(1, '--data', join(work, 'data', 'hospital-1'), '--invite', invites[0] as string),
      // the invite was said at the first join, by the run above
      client(2, '--data', flat, '--labels', join(work, 'labels.csv')),
    ])
    expect(labelled.stderr).not.toMatch(/fedtune client:/)
    expect([sorted.code, labelled.code]).toEqual([0, 0])
    expect(labelled.stdout).toMatch(
      /labels from .*labels\.csv; 1 other file in the folder, not listed there, left out\n/,
    )
    expect(labelled.stdout).toMatch(/data .*flat: 12 images .*training on \d+ \(normal \d+, pneumonia \d+\)/)
    expect(labelled.stdout).toContain('the coordinator finished the run: 1 of 1 rounds aggregated')
    expect([...(c.records.at(-1)?.survivors ?? [])].sort()).toEqual(['hospital-1', 'hospital-2'])
  }, 300_000)
})
