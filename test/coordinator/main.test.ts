import { DEFAULT_WEB_DIR } from '@fedtune/coordinator'
import { main } from '@fedtune/coordinator/main'
import { afterEach, describe, expect, it, vi } from 'vitest'

afterEach(() => {
  vi.restoreAllMocks()
})

describe('fedtune coordinator --help', () => {
  it('names the --web option and its default, client-web/dist of this repository', async () => {
    let out = ''
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out += String(chunk)
      return true
    })
    expect(await main(['--help'])).toBe(0)
    expect(out).toMatch(/--web <dir> +the browser participants' page/)
    expect(out).toContain(`(default ${DEFAULT_WEB_DIR})`)
  })

  it('lists every connection limit with its default', async () => {
    let out = ''
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out += String(chunk)
      return true
    })
    expect(await main(['--help'])).toBe(0)
    expect(out).toMatch(/--hello-timeout <s> .*\n.*\(default 10\)/)
    expect(out).toMatch(/--max-connections-per-address <n> .*\(default 32\)/)
    expect(out).toMatch(/--events-per-second <n> .*\(default 20\)/)
    expect(out).toMatch(/--event-burst <n> .*\(default 60\)/)
    expect(out).toMatch(/--max-unknown-events <n> [\s\S]*?\(default 20\)/)
  })

  it('refuses a limit that is not a positive number, naming the flag and what arrived', async () => {
    let err = ''
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      err += String(chunk)
      return true
    })
    expect(await main(['--task', 'x.json', '--event-burst', '0'])).toBe(2)
    expect(err).toContain('--event-burst: expected a positive whole number, got "0"')
  })
})
