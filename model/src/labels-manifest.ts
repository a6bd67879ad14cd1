import { parseCsv } from './csv.ts'

/** A problem found in a labels file, on its line (1-based). */
export type LineProblem = { readonly line: number; readonly message: string }

/** One row of a labels file: a file of the data folder (relative, "/"-separated, normalized) and its label index. */
export type ManifestEntry = { readonly line: number; readonly path: string; readonly label: number }

const PATH_COLUMNS = ['path', 'file']
const LABEL_COLUMNS = ['label', 'class']

/** What a labels file must look like, for messages and the CLI's usage. */
export const MANIFEST_FORMAT =
  'a CSV file (comma-separated, UTF-8) whose first row names its columns: "path" (or "file") and "label" (or "class"); other columns are ignored'

/**
 * Reads a labels file (a manifest labelling a flat export): CSV with a header row naming a path
 * column ("path" or "file") and a label column ("label" or "class"), matched case-insensitively,
 * any other column ignored. Each row names one file relative to the data folder ("/" or "\"
 * between folders) and its label. Surrounding spaces in names and labels are ignored, and so are
 * blank rows. Every problem is returned with its line, none thrown: a row of the wrong width, an
 * empty path or label, an absolute path or one that leads outside the folder (".."), a label not
 * in `labels` (the task's), a path listed twice. Without `labels` the classes are the labels
 * found, sorted. Whether the files exist is for the caller, which holds the folder.
 */
export function readLabelsManifest(
  text: string,
  labels?: readonly string[],
): { classes: string[]; entries: ManifestEntry[]; problems: LineProblem[] } {
  const records = parseCsv(text)
  const header = records[0]
  const expected = `expected a header row naming a "path" (or "file") column and a "label" (or "class") column`
  if (header === undefined)
    return { classes: [], entries: [], problems: [{ line: 1, message: `empty file; ${expected}` }] }
  if (header.problem !== undefined)
    return { classes: [], entries: [], problems: [{ line: header.line, message: header.problem }] }
  const names = header.fields.map((f) => f.trim().toLowerCase())
  const got = `got ${header.fields.map((f) => JSON.stringify(f)).join(', ')}`
  const pathColumns = names.flatMap((name, k) => (PATH_COLUMNS.includes(name) ? [k] : []))
  const labelColumns = names.flatMap((name, k) => (LABEL_COLUMNS.includes(name) ? [k] : []))
  if (pathColumns.length !== 1 || labelColumns.length !== 1) {
    const which =
      pathColumns.length === 0 || labelColumns.length === 0
        ? `no ${pathColumns.length === 0 ? 'path' : 'label'} column`
        : `more than one ${pathColumns.length > 1 ? 'path' : 'label'} column`
    return {
      classes: [],
      entries: [],
      problems: [{ line: header.line, message: `${which}; ${expected}, ${got}` }],
    }
  }
  const pathColumn = pathColumns[0] as number
  const labelColumn = labelColumns[0] as number

  const problems: LineProblem[] = []
  const rows: { line: number; path: string; label: string }[] = []
  const seen = new Map<string, { line: number; label: string }>()
  for (const record of records.slice(1)) {
    const { line, fields } = record
    if (record.problem !== undefined) {
      problems.push({ line, message: record.problem })
      continue
    }
    if (fields.every((f) => f.trim() === '')) continue
    if (fields.length !== names.length) {
      problems.push({
        line,
        message: `expected ${names.length} fields as in the header, got ${fields.length}; a field holding a comma must be quoted`,
      })
      continue
    }
    const raw = (fields[pathColumn] as string).trim()
    const label = (fields[labelColumn] as string).trim()
    const path = relativePath(raw)
    if (typeof path !== 'string') {
      problems.push({ line, message: path.problem })
      continue
    }
    if (label === '') {
      problems.push({ line, message: `${JSON.stringify(raw)} has no label` })
      continue
    }
    if (labels !== undefined && !labels.includes(label)) {
      problems.push({
        line,
        message: `unknown label ${JSON.stringify(label)}; the task's labels are ${labels.map((l) => JSON.stringify(l)).join(', ')}`,
      })
      continue
    }
    const first = seen.get(path)
    if (first !== undefined) {
      problems.push({
        line,
        message:
          first.label === label
            ? `${JSON.stringify(raw)} is listed again (first on line ${first.line})`
            : `${JSON.stringify(raw)} is labelled ${JSON.stringify(label)} here and ${JSON.stringify(first.label)} on line ${first.line}`,
      })
      continue
    }
    seen.set(path, { line, label })
    rows.push({ line, path, label })
  }
  const classes = labels ? [...labels] : [...new Set(rows.map((r) => r.label))].sort()
  const entries = rows.map((r) => ({ line: r.line, path: r.path, label: classes.indexOf(r.label) }))
  return { classes, entries, problems }
}

/**
 * `raw` as a normalized "/"-separated path inside the data folder, or why it is not one: empty,
 * absolute (/x, C:\x, \\server\x), or climbing out with "..". Backslashes count as separators, as
 * in exports made on Windows.
 */
function relativePath(raw: string): string | { problem: string } {
  if (raw === '') return { problem: 'empty path' }
  if (raw.includes('\0')) return { problem: `${JSON.stringify(raw)} holds a NUL character` }
  const slashed = raw.replaceAll('\\', '/')
  if (slashed.startsWith('/') || /^[A-Za-z]:(\/|$)/.test(slashed))
    return {
      problem: `${JSON.stringify(raw)} is an absolute path; expected a path relative to the data folder`,
    }
  const parts: string[] = []
  for (const part of slashed.split('/')) {
    if (part === '' || part === '.') continue
    if (part !== '..') parts.push(part)
    else if (parts.pop() === undefined)
      return { problem: `${JSON.stringify(raw)} leads outside the data folder; expected a path inside it` }
  }
  if (parts.length === 0)
    return { problem: `${JSON.stringify(raw)} names the data folder itself, expected a file in it` }
  return parts.join('/')
}
