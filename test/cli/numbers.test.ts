import { describe, expect, it } from 'vitest'
import { CommandError } from '../../cli/src/command-io.ts'
import { fraction, portNumber, positiveInteger, positiveSeconds, realNumber } from '../../cli/src/numbers.ts'

/** What a parser throws for `text`: the CommandError's exit code and message. */
function refusal(parse: (option: string, text: string) => number, text: string) {
  try {
    return { accepted: parse('--n', text) }
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    return { exitCode: error.exitCode, message: error.message }
  }
}

const notCanonical = ['', '-1', '1e3', '0x10', ' 5', '5 ', '08', '1.5', '+5', 'Infinity', 'NaN', '٣']

describe('numbers on a command line are canonical decimal digits, nothing else', () => {
  it.each(notCanonical)(
    'a whole number refuses %j, naming the option, what it expects and what arrived',
    (text) => {
      expect(refusal(positiveInteger, text)).toEqual({
        exitCode: 2,
        message: `--n: expected a positive whole number, got ${JSON.stringify(text)}`,
      })
    },
  )

  it.each(notCanonical)('a port refuses %j', (text) => {
    expect(refusal(portNumber, text)).toEqual({
      exitCode: 2,
      message: `--n: expected an integer from 0 to 65535, got ${JSON.stringify(text)}`,
    })
  })

  it('a port is 0 (any free one) to 65535', () => {
    expect(portNumber('--port', '0')).toBe(0)
    expect(portNumber('--port', '8080')).toBe(8080)
    expect(portNumber('--port', '65535')).toBe(65535)
    expect(refusal(portNumber, '65536').message).toBe('--n: expected an integer from 0 to 65535, got "65536"')
  })

  it('a whole number is at least 1 and at most its maximum, which the refusal names', () => {
    expect(positiveInteger('--n', '1')).toBe(1)
    expect(positiveInteger('--n', '9007199254740991')).toBe(Number.MAX_SAFE_INTEGER)
    expect(refusal(positiveInteger, '0').message).toBe('--n: expected a positive whole number, got "0"')
    expect(refusal(positiveInteger, '9007199254740992').message).toMatch(/expected a positive whole number/)
    expect(positiveInteger('--limit', '1000', 1000)).toBe(1000)
    expect(refusal((o, t) => positiveInteger(o, t, 1000), '1001').message).toBe(
      '--n: expected a whole number from 1 to 1000, got "1001"',
    )
  })

  it('seconds are positive and to the millisecond, returned in milliseconds exactly', () => {
    expect(positiveSeconds('--s', '10')).toBe(10_000)
    expect(positiveSeconds('--s', '0.5')).toBe(500)
    expect(positiveSeconds('--s', '0.001')).toBe(1)
    expect(positiveSeconds('--s', '2.125')).toBe(2125)
    for (const text of [...notCanonical.filter((t) => t !== '1.5'), '0', '0.000', '0.0005', '1.', '.5'])
      expect(refusal(positiveSeconds, text)).toEqual({
        exitCode: 2,
        message: `--n: expected a positive number of seconds (to the millisecond), got ${JSON.stringify(text)}`,
      })
  })

  it('a fraction is from 0 up to, not including, 1', () => {
    expect(fraction('--f', '0')).toBe(0)
    expect(fraction('--f', '0.1')).toBe(0.1)
    for (const text of ['', '1', '1.0', '.5', '-0.1', '0.1e1', '0x0', ' 0.5'])
      expect(refusal(fraction, text).message).toBe(
        `--n: expected a number in [0, 1), got ${JSON.stringify(text)}`,
      )
  })

  it('a real number may be written in scientific notation, for figures like δ = 1e-5, and nothing looser', () => {
    const positive = (option: string, text: string) => realNumber(option, text, 'a number > 0', (v) => v > 0)
    expect(positive('--d', '1e-5')).toBe(1e-5)
    expect(positive('--d', '2.5E-3')).toBe(0.0025)
    expect(positive('--d', '0.00001')).toBe(1e-5)
    expect(positive('--d', '3')).toBe(3)
    expect(positive('--d', '1e+2')).toBe(100)
    for (const text of [
      '',
      '-1',
      '0',
      '1e999',
      '.5',
      '5.',
      '1e',
      'e5',
      '0x10',
      ' 1',
      '1 ',
      '08',
      'Infinity',
      'NaN',
      '1e-5e3',
    ])
      expect(refusal(positive, text)).toEqual({
        exitCode: 2,
        message: `--n: expected a number > 0, got ${JSON.stringify(text)}`,
      })
  })

  it('what arrived is escaped: a control character or an escape sequence cannot reach the terminal as is', () => {
    const message = refusal(positiveInteger, '1\n\u001b[2Kforged').message as string
    expect(message).not.toContain('\n')
    expect(message).not.toContain('\u001b')
    expect(message).toContain('--n: expected a positive whole number, got "1')
  })
})
