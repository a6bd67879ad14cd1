import { describe, expect, it } from 'vitest'
import { countByLabel, labelFolder } from '../../client-web/src/label-folder.ts'

const picked = (path: string) => ({ name: path.split('/').at(-1) as string, webkitRelativePath: path })
const labels = ['normal', 'pneumonia']

describe("a volunteer's folder", () => {
  it('labels each image by the class folder right below the chosen one', () => {
    const { images, skipped } = labelFolder(
      [picked('xrays/normal/a.png'), picked('xrays/pneumonia/b.JPG'), picked('xrays/pneumonia/deep/c.jpeg')],
      labels,
    )
    expect(images.map((i) => [i.file.name, i.label])).toEqual([
      ['a.png', 0],
      ['b.JPG', 1],
      ['c.jpeg', 1],
    ])
    expect(skipped).toEqual([])
  })

  it('skips, and says why, files that are not images or not under a class folder', () => {
    const { images, skipped } = labelFolder(
      [
        picked('xrays/normal/notes.txt'),
        picked('xrays/covid/d.png'),
        picked('xrays/e.png'),
        picked('xrays/normal/.DS_Store'),
      ],
      labels,
    )
    expect(images).toEqual([])
    expect(skipped).toEqual([
      { path: 'xrays/normal/notes.txt', why: 'not a PNG or JPEG file' },
      { path: 'xrays/covid/d.png', why: 'folder "covid" is not one of normal, pneumonia' },
      { path: 'xrays/e.png', why: 'not inside a class folder' },
    ])
  })

  it('counts images per class, zero for a class with none', () => {
    expect(countByLabel([{ label: 1 }, { label: 1 }], 3)).toEqual([0, 2, 0])
  })
})
