import { mkdir, mkdtemp, realpath, rm, symlink, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { DataFolderError, MAX_LABELS_FILE_BYTES, scanImageFolder } from '@fedtune/model/node'
import { afterEach, describe, expect, it } from 'vitest'

const LABELS = ['normal', 'pneumonia']
let root: string

afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true })
})

/** A flat export under a fresh temporary root: `files` (relative paths) in root/data, and `csv` in root/labels.csv. */
async function flatExport(files: string[], csv: string): Promise<{ dir: string; labelsFile: string }> {
  root = await mkdtemp(path.join(tmpdir(), 'fedtune-labels-'))
  const dir = path.join(root, 'data')
  for (const f of files) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true })
    await writeFile(path.join(dir, f), `bytes of ${f}`)
  }
  await mkdir(dir, { recursive: true })
  const labelsFile = path.join(root, 'labels.csv')
  await writeFile(labelsFile, csv)
  return { dir, labelsFile }
}

/** The problems a scan refuses with, or a failure if it does not refuse with a DataFolderError. */
async function problems(dir: string, labelsFile: string): Promise<readonly string[]> {
  const error = await scanImageFolder(dir, LABELS, { labelsFile }).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(DataFolderError)
  return (error as DataFolderError).problems
}

describe('scanImageFolder with a labels file', () => {
  it('labels the files it lists, in nested folders, sorted by path, and counts the files it leaves out', async () => {
    const { dir, labelsFile } = await flatExport(
      [
        'P2/IM1',
        'P1/study 1, follow-up/IM1.dcm',
        'P1/study 1, follow-up/IM2.dcm',
        'P3/IM9',
        'notes.txt',
        '.hidden',
      ],
      '\ufeffPatientID,File,Label\r\nP2,P2/IM1,normal\r\nP1,"P1/study 1, follow-up/IM1.dcm",pneumonia\r\nP1,P1\\study 1, follow-up\\IM2.dcm,normal\r\n',
    )
    // the third row's unquoted comma makes it four fields: refused, the rest fixed below
    expect(await problems(dir, labelsFile)).toEqual([
      'line 4: expected 3 fields as in the header, got 4; a field holding a comma must be quoted',
    ])
    await writeFile(
      labelsFile,
      '\ufeffPatientID,File,Label\r\nP2,P2/IM1,normal\r\nP1,"P1/study 1, follow-up/IM1.dcm",pneumonia\r\nP1,"P1\\study 1, follow-up\\IM2.dcm",normal\r\n',
    )
    const scanned = await scanImageFolder(dir, LABELS, { labelsFile })
    expect(scanned.classes).toEqual(LABELS)
    expect(scanned.files.map((f) => [path.relative(dir, f.path), f.label])).toEqual([
      ['P1/study 1, follow-up/IM1.dcm', 1],
      ['P1/study 1, follow-up/IM2.dcm', 0],
      ['P2/IM1', 0],
    ])
    expect(scanned.unlisted).toBe(2) // P3/IM9 and notes.txt; hidden files are not counted
  })

  it('does not count the labels file itself among the files it leaves out when it lies in the data folder', async () => {
    const { dir } = await flatExport(['a.dcm'], '')
    const labelsFile = path.join(dir, 'labels.csv')
    await writeFile(labelsFile, 'path,label\na.dcm,normal\n')
    expect(await scanImageFolder(dir, LABELS, { labelsFile })).toMatchObject({
      unlisted: 0,
      files: [{ label: 0 }],
    })
  })

  it('reports every row naming a missing file, a folder or a broken link, with its line, along with the rows themselves wrong', async () => {
    const { dir, labelsFile } = await flatExport(
      ['a.dcm', 'P1/b.dcm'],
      'path,label\na.dcm,normal\nmissing.dcm,normal\nP1,pneumonia\nbroken.dcm,normal\nP1/b.dcm,covid\nP1/b.dcm,pneumonia\na.dcm,pneumonia\n',
    )
    await symlink('nowhere.dcm', path.join(dir, 'broken.dcm'))
    expect(await problems(dir, labelsFile)).toEqual([
      'line 3: no such file "missing.dcm" in the data folder',
      'line 4: "P1" is a folder; expected a file',
      'line 5: "broken.dcm" is a broken symbolic link',
      'line 6: unknown label "covid"; the task\'s labels are "normal", "pneumonia"',
      'line 8: "a.dcm" is labelled "pneumonia" here and "normal" on line 2',
    ])
  })

  it('refuses paths outside the data folder: absolute, climbing with "..", or through a symbolic link', async () => {
    const { dir, labelsFile } = await flatExport(['inside.dcm'], '')
    await writeFile(path.join(root, 'secret.dcm'), 'not this site’s to share')
    await symlink(path.join(root, 'secret.dcm'), path.join(dir, 'link.dcm'))
    await symlink(root, path.join(dir, 'up'))
    await symlink('inside.dcm', path.join(dir, 'alias.dcm'))
    await writeFile(
      labelsFile,
      `path,label\n${path.join(root, 'secret.dcm')},normal\n../secret.dcm,normal\nlink.dcm,normal\nup/secret.dcm,normal\nalias.dcm,pneumonia\n`,
    )
    const real = await realpath(root)
    expect(await problems(dir, labelsFile)).toEqual([
      `line 2: ${JSON.stringify(path.join(root, 'secret.dcm'))} is an absolute path; expected a path relative to the data folder`,
      'line 3: "../secret.dcm" leads outside the data folder; expected a path inside it',
      `line 4: "link.dcm" leads outside the data folder through a symbolic link (to ${real}/secret.dcm); only files inside it are read`,
      `line 5: "up/secret.dcm" leads outside the data folder through a symbolic link (to ${real}/secret.dcm); only files inside it are read`,
    ])
    // a link that stays inside is followed
    await writeFile(labelsFile, 'path,label\nalias.dcm,pneumonia\n')
    const scanned = await scanImageFolder(dir, LABELS, { labelsFile })
    expect(scanned.files).toEqual([{ path: path.join(dir, 'alias.dcm'), label: 1 }])
    expect(scanned.unlisted).toBe(0) // inside.dcm is the file alias.dcm lists
  })

  it('reads a data folder reached through a symbolic link (a mounted export) as the folder it leads to', async () => {
    const { dir, labelsFile } = await flatExport(['P1/a.dcm'], 'path,label\nP1/a.dcm,pneumonia\n')
    const mounted = path.join(root, 'mounted')
    await symlink(dir, mounted)
    expect(await scanImageFolder(mounted, LABELS, { labelsFile })).toEqual({
      classes: LABELS,
      files: [{ path: path.join(mounted, 'P1', 'a.dcm'), label: 1 }],
      unlisted: 0,
    })
    await mkdir(path.join(mounted, 'normal'))
    await rm(path.join(mounted, 'P1'), { recursive: true })
    await writeFile(path.join(mounted, 'normal', 'b.dcm'), 'b')
    expect((await scanImageFolder(mounted, LABELS)).files).toEqual([
      { path: path.join(mounted, 'normal', 'b.dcm'), label: 0 },
    ])
  })

  it('lists the first 50 problems one a line and counts the rest in one error', async () => {
    const rows = Array.from({ length: 70 }, (_, k) => `f${k}.dcm,covid`)
    const { dir, labelsFile } = await flatExport([], `path,label\n${rows.join('\n')}\n`)
    const error = await scanImageFolder(dir, LABELS, { labelsFile }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DataFolderError)
    const lines = (error as Error).message.split('\n')
    expect(lines[0]).toBe(`${labelsFile}: 70 problems, nothing was read`)
    expect(lines[1]).toBe('  line 2: unknown label "covid"; the task\'s labels are "normal", "pneumonia"')
    expect(lines[50]).toMatch(/^ {2}line 51: /)
    expect(lines.slice(51)).toEqual(['  … and 20 more'])
    expect((error as DataFolderError).problems).toHaveLength(70)
  })

  it('refuses a labels file that is missing, too large, not UTF-8, or lists no file', async () => {
    const { dir, labelsFile } = await flatExport(['a.dcm'], 'path,label\n')
    await expect(scanImageFolder(dir, LABELS, { labelsFile })).rejects.toThrow(
      `${labelsFile}: lists no files; expected a CSV file`,
    )
    await expect(scanImageFolder(dir, LABELS, { labelsFile: `${labelsFile}.gone` })).rejects.toThrow(
      `${labelsFile}.gone: no such labels file`,
    )
    await writeFile(labelsFile, Buffer.from('path,label\nr\xe9sum\xe9.dcm,normal\n', 'latin1'))
    await expect(scanImageFolder(dir, LABELS, { labelsFile })).rejects.toThrow(
      `${labelsFile}: not UTF-8 text; save it from the spreadsheet as "CSV UTF-8"`,
    )
    await truncate(labelsFile, MAX_LABELS_FILE_BYTES + 1)
    await expect(scanImageFolder(dir, LABELS, { labelsFile })).rejects.toThrow(
      `${labelsFile}: 64.0 MiB, more than the 64 MiB a labels file may hold`,
    )
  })
})
