import { escapeText } from '@fedtune/protocol'

export type LogFormat = 'text' | 'json'
export type LogLevel = 'info' | 'warn' | 'error'

/** A field's value: what a log collector indexes. Strings are escaped like every line. */
export type LogValue = string | number | boolean | null | readonly (string | number | null)[]
export type LogFields = Readonly<Record<string, LogValue | undefined>>

/**
 * What the hospital client says, one line per event (docs/hospital-client.md, "Events"). In text
 * format the line is `text`, for people, as it always was; in json format it is one object,
 * `{time, level, event, ...fields, message}`, for a hospital's log collector.
 */
export type Logger = {
  readonly format: LogFormat
  info(event: string, fields: LogFields, text: string): void
  warn(event: string, fields: LogFields, text: string): void
  error(event: string, fields: LogFields, text: string): void
}

/** Keys every json line has; a field of the same name is dropped rather than let it overwrite them. */
const RESERVED = new Set(['time', 'level', 'event', 'message'])

/**
 * A logger writing whole lines to `write`. Every string, the message and each string field, is
 * escaped (`escapeText`): text from the coordinator (task names, refusal reasons) stays one visible
 * line, and a json line stays one parseable object.
 */
export function createLogger(
  format: LogFormat,
  write: (line: string) => void,
  now: () => Date = () => new Date(),
): Logger {
  const line = (level: LogLevel, event: string, fields: LogFields, text: string) => {
    if (format === 'text') return write(`${escapeText(text, 2000)}\n`)
    const entry: Record<string, unknown> = { time: now().toISOString(), level, event: escapeText(event, 64) }
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined || RESERVED.has(key)) continue
      entry[escapeText(key, 64)] = jsonSafe(value)
    }
    entry.message = escapeText(text, 2000)
    write(`${JSON.stringify(entry)}\n`)
  }
  return {
    format,
    info: (event, fields, text) => line('info', event, fields, text),
    warn: (event, fields, text) => line('warn', event, fields, text),
    error: (event, fields, text) => line('error', event, fields, text),
  }
}

function jsonSafe(value: LogValue): LogValue {
  if (typeof value === 'string') return escapeText(value, 2000)
  // JSON has no NaN or Infinity: say null, not a string that reads as a number to nobody.
  if (typeof value === 'number') return Number.isFinite(value) ? value : null
  if (Array.isArray(value))
    return value.map((v) => (typeof v === 'string' ? escapeText(v, 500) : jsonSafe(v))) as readonly (
      | string
      | number
      | null
    )[]
  return value
}
