import { createLogger } from '@fedtune/client-node'
import { describe, expect, it } from 'vitest'

const at = () => new Date('2026-12-02T10:00:00.000Z')

function lines(format: 'text' | 'json') {
  const out: string[] = []
  return { log: createLogger(format, (line) => void out.push(line), at), out }
}

describe('the hospital client’s log lines', () => {
  it('text: the line for people, escaped to one visible line', () => {
    const { log, out } = lines('text')
    log.info('joined', { task: 'x' }, 'joined task "x\nFAKE" as h')
    expect(out).toEqual(['joined task "x\\nFAKE" as h\n'])
  })

  it('json: one object per line with time, level, event, the fields and the message', () => {
    const { log, out } = lines('json')
    log.info(
      'round-result',
      { round: 3, status: 'aggregated', accuracy: 0.75, auc: null },
      'round 3 aggregated',
    )
    log.warn('dropped-out', { round: 4, reason: undefined }, 'round 4: this hospital dropped out')
    log.error('error', { final: true }, 'failed')
    expect(out.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true)
    expect(out.map((l) => JSON.parse(l))).toEqual([
      {
        time: '2026-12-02T10:00:00.000Z',
        level: 'info',
        event: 'round-result',
        round: 3,
        status: 'aggregated',
        accuracy: 0.75,
        auc: null,
        message: 'round 3 aggregated',
      },
      {
        time: '2026-12-02T10:00:00.000Z',
        level: 'warn',
        event: 'dropped-out',
        round: 4,
        message: 'round 4: this hospital dropped out',
      },
      { time: '2026-12-02T10:00:00.000Z', level: 'error', event: 'error', final: true, message: 'failed' },
    ])
  })

  it('json: strings from outside are escaped, fields cannot overwrite the fixed keys, numbers stay JSON', () => {
    const { log, out } = lines('json')
    log.warn(
      'refused',
      {
        reason: 'bad\u001b[31m\u202e',
        level: 'info',
        time: 'x',
        list: ['a\nb', Number.NaN],
        n: Number.POSITIVE_INFINITY,
      },
      'the coordinator said "\r\nfake line"',
    )
    const entry = JSON.parse(out[0] as string)
    expect(entry).toEqual({
      time: '2026-12-02T10:00:00.000Z',
      level: 'warn',
      event: 'refused',
      reason: 'bad\\x1b[31m\\u{202e}',
      list: ['a\\nb', null],
      n: null,
      message: 'the coordinator said "\\r\\nfake line"',
    })
  })
})
