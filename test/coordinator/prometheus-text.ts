/**
 * Prometheus' text exposition format (version 0.0.4), parsed whole: every `# HELP` and `# TYPE`
 * line, and every sample with its labels unescaped. A line that is none of these fails the parse,
 * so a test reading /metrics also checks that what the coordinator serves is well formed.
 */
export type Sample = {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}
export type Family = { readonly name: string; type: string; help: string }
export type Exposition = { readonly families: Map<string, Family>; readonly samples: readonly Sample[] }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/

export function parseExposition(text: string): Exposition {
  const families = new Map<string, Family>()
  const samples: Sample[] = []
  const family = (name: string) => {
    let found = families.get(name)
    if (found === undefined) {
      found = { name, type: 'untyped', help: '' }
      families.set(name, found)
    }
    return found
  }
  text.split('\n').forEach((line, index) => {
    const where = `line ${index + 1} ${JSON.stringify(line)}`
    if (line === '') return
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line)
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string]
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest))
          throw new Error(`${where}: expected a metric type, got ${JSON.stringify(rest)}`)
        family(name).type = rest
      } else family(name).help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\')
      return
    }
    if (line.startsWith('#')) return // a comment
    samples.push(parseSample(line, where))
  })
  return { families, samples }
}

function parseSample(line: string, where: string): Sample {
  const name = NAME.exec(line)?.[0]
  if (name === undefined) throw new Error(`${where}: expected a metric name`)
  let at = name.length
  const labels: Record<string, string> = {}
  if (line[at] === '{') {
    at++
    while (line[at] !== '}') {
      const label = LABEL.exec(line.slice(at))?.[0]
      if (label === undefined || line.slice(at + label.length, at + label.length + 2) !== '="')
        throw new Error(`${where}: expected label="value" at column ${at + 1}`)
      at += label.length + 2
      let value = ''
      for (;;) {
        const c = line[at++]
        if (c === undefined) throw new Error(`${where}: a label value that does not end`)
        if (c === '"') break
        if (c === '\\') {
          const e = line[at++]
          value += e === 'n' ? '\n' : e === '"' ? '"' : e === '\\' ? '\\' : `\\${e}`
        } else value += c
      }
      if (label in labels) throw new Error(`${where}: label ${label} twice`)
      labels[label] = value
      if (line[at] === ',') at++
      else if (line[at] !== '}')
        throw new Error(`${where}: expected , or } after a label at column ${at + 1}`)
    }
    at++
  }
  const rest = line.slice(at).trim().split(/\s+/)
  const [text, timestamp] = rest
  if (text === undefined || rest.length > 2 || (timestamp !== undefined && !/^-?\d+$/.test(timestamp)))
    throw new Error(`${where}: expected a value and at most a timestamp`)
  // Prometheus reads values as Go's ParseFloat does: NaN and ±Inf in any case (prom-client writes "Nan")
  const special = text.toLowerCase()
  const value =
    special === 'nan'
      ? Number.NaN
      : /^[+]?inf(inity)?$/.test(special)
        ? Number.POSITIVE_INFINITY
        : /^-inf(inity)?$/.test(special)
          ? Number.NEGATIVE_INFINITY
          : /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)
            ? Number(text)
            : undefined
  if (value === undefined) throw new Error(`${where}: expected a number, got ${JSON.stringify(text)}`)
  return { name, labels, value }
}

/** The value of the one sample named `name` whose labels are exactly `labels`; undefined when there is none. */
export function sampleValue(
  exposition: Exposition,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  const wanted = Object.entries(labels).sort()
  const found = exposition.samples.filter((s) => {
    const have = Object.entries(s.labels).sort()
    return s.name === name && JSON.stringify(have) === JSON.stringify(wanted)
  })
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${found.length} samples`)
  return found[0]?.value
}
