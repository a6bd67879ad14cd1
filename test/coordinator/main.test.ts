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
})
