import { parseCsv, readLabelsManifest } from '@fedtune/model'
import { describe, expect, it } from 'vitest'

const LABELS = ['normal', 'pneumonia']

describe('parseCsv (RFC 4180)', () => {
  it('splits records on LF and CRLF, keeps empty fields, and numbers each record by the line it starts on', () => {
    expect(parseCsv('a,b\r\n1,\n,2\r\n\nlast,x')).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['1', ''] },
      { line: 3, fields: ['', '2'] },
      { line: 4, fields: [''] },
      { line: 5, fields: ['last', 'x'] },
    ])
  })

  it('reads quoted fields holding commas, doubled quotes and line breaks, counting the lines they span', () => {
    expect(parseCsv('"a,b","say ""hi""","two\nlines"\r\n"",x\n')).toEqual([
      { line: 1, fields: ['a,b', 'say "hi"', 'two\nlines'] },
      { line: 3, fields: ['', 'x'] },
    ])
  })

  it('drops the byte order mark a spreadsheet writes first', () => {
    expect(parseCsv('\ufeffpath,label\n')).toEqual([{ line: 1, fields: ['path', 'label'] }])
  })

  it('returns a malformed record with what is wrong instead of throwing', () => {
    const records = parseCsv('ok,1\nsay "hi",2\n"closed"x,3\n"never closed,4\nmore')
    expect(records.map((r) => [r.line, r.problem?.split(';')[0]])).toEqual([
      [1, undefined],
      [2, 'a quote inside an unquoted field'],
      [3, 'text after the closing quote of a field'],
      [4, 'a quoted field opened on line 4 is never closed'],
    ])
  })
})

describe('readLabelsManifest', () => {
  it('reads the path and label columns named in the header in any case and order, ignoring other columns and blank rows', () => {
    const text =
      '\ufeffPatient ID,Label,File\r\nP1,pneumonia,"P1/study 1, follow-up/IM1.dcm"\r\n,,\r\nP2, normal ,P2\\IM1\r\n'
    expect(readLabelsManifest(text, LABELS)).toEqual({
      classes: LABELS,
      entries: [
        { line: 2, path: 'P1/study 1, follow-up/IM1.dcm', label: 1 },
        { line: 4, path: 'P2/IM1', label: 0 },
      ],
      problems: [],
    })
  })

  it('without the task labels takes the labels found, sorted, as the classes', () => {
    const { classes, entries } = readLabelsManifest('path,class\nb.png,zebra\na.png,ant\nc.png,zebra\n')
    expect(classes).toEqual(['ant', 'zebra'])
    expect(entries.map((e) => e.label)).toEqual([1, 0, 1])
  })

  it('takes a name with a colon after its first letter for a file, not a Windows drive', () => {
    expect(readLabelsManifest('path,label\na:b.dcm,normal\n', LABELS).entries).toEqual([
      { line: 2, path: 'a:b.dcm', label: 0 },
    ])
  })

  it('normalizes "." and ".." that stay inside the folder, so one file spelled two ways is a duplicate', () => {
    const { entries, problems } = readLabelsManifest(
      'path,label\n./a/../b.png,normal\nb.png,normal\n',
      LABELS,
    )
    expect(entries).toEqual([{ line: 2, path: 'b.png', label: 0 }])
    expect(problems).toEqual([{ line: 3, message: '"b.png" is listed again (first on line 2)' }])
  })

  it('reports every faulty row with its line, and keeps the good ones', () => {
    const text = [
      'path,label,patient', // 1
      'a.dcm,normal,P1', // 2
      'b.dcm,covid,P2', // 3
      'c.dcm,normal', // 4
      'a.dcm,normal,P1', // 5
      'a.dcm,pneumonia,P1', // 6
      '/etc/passwd,normal,P3', // 7
      '../other-site/d.dcm,normal,P4', // 8
      'C:\\export\\e.dcm,normal,P5', // 9
      'x/../../f.dcm,normal,P6', // 10
      ',normal,P7', // 11
      'g.dcm,,P8', // 12
      'h "x".dcm,normal,P9', // 13
      '.,normal,P10', // 14
      'ok.dcm,pneumonia,P11', // 15
    ].join('\n')
    const { entries, problems } = readLabelsManifest(text, LABELS)
    expect(entries.map((e) => [e.line, e.path])).toEqual([
      [2, 'a.dcm'],
      [15, 'ok.dcm'],
    ])
    expect(problems).toEqual([
      { line: 3, message: 'unknown label "covid"; the task\'s labels are "normal", "pneumonia"' },
      {
        line: 4,
        message: 'expected 3 fields as in the header, got 2; a field holding a comma must be quoted',
      },
      { line: 5, message: '"a.dcm" is listed again (first on line 2)' },
      { line: 6, message: '"a.dcm" is labelled "pneumonia" here and "normal" on line 2' },
      {
        line: 7,
        message: '"/etc/passwd" is an absolute path; expected a path relative to the data folder',
      },
      { line: 8, message: '"../other-site/d.dcm" leads outside the data folder; expected a path inside it' },
      {
        line: 9,
        message: '"C:\\\\export\\\\e.dcm" is an absolute path; expected a path relative to the data folder',
      },
      { line: 10, message: '"x/../../f.dcm" leads outside the data folder; expected a path inside it' },
      { line: 11, message: 'empty path' },
      { line: 12, message: '"g.dcm" has no label' },
      {
        line: 13,
        message:
          'a quote inside an unquoted field; a field holding a quote must be quoted whole, with each quote inside doubled ("")',
      },
      { line: 14, message: '"." names the data folder itself, expected a file in it' },
    ])
  })

  it.each([
    [
      '',
      1,
      'empty file; expected a header row naming a "path" (or "file") column and a "label" (or "class") column',
    ],
    [
      'a.dcm,normal\n',
      1,
      'no path column; expected a header row naming a "path" (or "file") column and a "label" (or "class") column, got "a.dcm", "normal"',
    ],
    ['path,diagnosis\n', 1, 'no label column;'],
    ['file,path,label\n', 1, 'more than one path column;'],
    ['path,label,Class\n', 1, 'more than one label column;'],
    ['"path,label\nx,y\n', 1, 'a quoted field opened on line 1 is never closed'],
    ['\n\npath,label\n', 1, 'no path column;'],
  ])(
    'a header that does not name its columns (%j) is refused on line %i, and no row is read',
    (text, line, message) => {
      const { entries, problems } = readLabelsManifest(text, LABELS)
      expect(entries).toEqual([])
      expect(problems).toHaveLength(1)
      expect(problems[0]?.line).toBe(line)
      expect(problems[0]?.message.startsWith(message)).toBe(true)
    },
  )
})
