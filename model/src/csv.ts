/** One CSV record, with the line it starts on (1-based) for messages, and what is wrong with it if anything. */
export type CsvRecord = {
  readonly line: number
  readonly fields: readonly string[]
  readonly problem?: string
}

const QUOTE_ADVICE = 'a field holding a quote must be quoted whole, with each quote inside doubled ("")'

/**
 * Splits CSV text as RFC 4180 §2 describes: comma-separated fields, records ended by CRLF or LF (a
 * last record may lack one), a field in double quotes may hold commas, line breaks and doubled
 * quotes. A leading UTF-8 byte order mark (spreadsheets write one) is dropped. A malformed record
 * (a stray quote, a quote never closed) is returned with its `problem` rather than thrown, so that a
 * caller can report every faulty line at once.
 */
export function parseCsv(text: string): CsvRecord[] {
  const n = text.length
  const records: CsvRecord[] = []
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0
  let line = 1
  const atRecordEnd = (k: number) => k >= n || text[k] === '\n' || (text[k] === '\r' && text[k + 1] === '\n')
  while (i < n) {
    const start = line
    const fields: string[] = []
    let problem: string | undefined
    for (;;) {
      if (text[i] === '"') {
        const opened = line
        let field = ''
        i++
        for (;;) {
          if (i >= n) {
            problem ??= `a quoted field opened on line ${opened} is never closed; ${QUOTE_ADVICE}`
            break
          }
          const close = text.indexOf('"', i)
          const end = close === -1 ? n : close
          const piece = text.slice(i, end)
          field += piece
          for (let k = piece.indexOf('\n'); k !== -1; k = piece.indexOf('\n', k + 1)) line++
          i = end
          if (close === -1) continue
          if (text[i + 1] === '"') {
            field += '"'
            i += 2
          } else {
            i++
            break
          }
        }
        if (!atRecordEnd(i) && text[i] !== ',') {
          problem ??= `text after the closing quote of a field; ${QUOTE_ADVICE}`
          while (!atRecordEnd(i) && text[i] !== ',') field += text[i++]
        }
        fields.push(field)
      } else {
        let end = i
        while (!atRecordEnd(end) && text[end] !== ',') end++
        const field = text.slice(i, end)
        if (field.includes('"')) problem ??= `a quote inside an unquoted field; ${QUOTE_ADVICE}`
        fields.push(field)
        i = end
      }
      if (text[i] !== ',') break
      i++
    }
    if (i < n) {
      i += text[i] === '\r' ? 2 : 1
      line++
    }
    records.push(problem === undefined ? { line: start, fields } : { line: start, fields, problem })
  }
  return records
}
