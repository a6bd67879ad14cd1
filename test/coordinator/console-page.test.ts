import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_CONSOLE_DIR } from '@fedtune/coordinator'
import { describe, expect, it } from 'vitest'
import { startTestCoordinator } from '../harness.ts'

/** The operators' console under /console, as console/'s Vite build lays it out. */
const repo = fileURLToPath(new URL('../../', import.meta.url))
const INDEX = '<!doctype html><script type="module" src="/console/assets/index-5b2c.js"></script>'
const SECRET = 'beside-the-build-19af'

function builtConsole(root: string): string {
  const dist = join(root, 'console')
  mkdirSync(join(dist, 'assets'), { recursive: true })
  writeFileSync(join(root, 'secret.txt'), SECRET)
  writeFileSync(join(dist, 'index.html'), INDEX)
  writeFileSync(join(dist, 'assets', 'index-5b2c.js'), 'export {}')
  writeFileSync(join(dist, 'assets', 'index-5b2c.css'), 'body{}')
  return dist
}

const withConsole = (console: (dir: string) => string | undefined) =>
  startTestCoordinator({ secure: false, rounds: 1, minParticipants: 1, participantsPerRound: 1, console })

describe('the operator console at /console', () => {
  it('serves index.html at /console and /console/ to anyone (its data needs a session), under a strict CSP', async () => {
    const { app } = await withConsole(builtConsole)
    for (const url of ['/console', '/console/']) {
      const res = await app.inject({ method: 'GET', url })
      expect(res.statusCode, url).toBe(200)
      expect(res.body).toBe(INDEX)
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(res.headers['cache-control']).toBe('no-cache')
      expect(res.headers['content-security-policy']).toContain("script-src 'self'")
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'")
      expect(res.headers['x-frame-options']).toBe('DENY')
    }
  })

  it('serves its hashed assets as immutable, and nothing outside its folder', async () => {
    const { app } = await withConsole(builtConsole)
    const js = await app.inject({ method: 'GET', url: '/console/assets/index-5b2c.js' })
    expect(js.statusCode).toBe(200)
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8')
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    for (const url of [
      '/console/../secret.txt',
      '/console/%2e%2e/secret.txt',
      '/console/assets/missing.js',
    ]) {
      const res = await app.inject({ method: 'GET', url })
      expect(res.body, url).not.toContain(SECRET)
      expect([404], url).toContain(res.statusCode)
    }
  })

  it('says how to build it when the folder holds no build', async () => {
    const { app } = await withConsole((dir) => join(dir, 'nothing-here'))
    const res = await app.inject({ method: 'GET', url: '/console' })
    expect(res.statusCode).toBe(503)
    expect(res.body).toContain('the operator console is not built')
    expect(res.body).toContain('npm run build:console')
  })

  it('looks for the page in console/dist of this repository by default', () => {
    expect(DEFAULT_CONSOLE_DIR).toBe(join(repo, 'console', 'dist'))
  })
})
