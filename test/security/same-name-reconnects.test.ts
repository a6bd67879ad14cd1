import { describe, expect, it } from 'vitest'
import { sorted, startTestCoordinator, testParticipant } from '../harness.ts'
import { storeWithViewer } from '../test-store.ts'

/**
 * Issue 11, "one key, one name": two connections under one name and key are a reconnect, or a copy
 * of the key. Either way the newer connection replaces the older, which is disconnected and the
 * operator told; the name is never online twice.
 */
describe('the same name and key on a second connection', () => {
  it('a second connection under the same name and key replaces the first, which is disconnected, and the round runs with the newer one', async () => {
    const h = await startTestCoordinator({ rounds: 1 })
    const older = testParticipant(h, 'a')
    expect(await older.joined).toMatchObject({ ok: true })
    const dropped = new Promise<string>((resolve) => older.socket.once('disconnect', resolve))
    const newer = testParticipant(h, 'a')
    expect(await newer.joined).toMatchObject({ ok: true })
    expect(await dropped).toBe('io server disconnect')
    expect(h.warnings).toContain('a: a newer connection replaced the older one')
    expect([...h.federation.state.online.keys()]).toEqual(['a'])
    await Promise.all([testParticipant(h, 'b').joined, testParticipant(h, 'c').joined])
    expect(sorted(await h.recorded(1))).toMatchObject({ status: 'aggregated', survivors: ['a', 'b', 'c'] })
  })

  it('the older connection leaving afterwards does not take the newer one offline', async () => {
    const { store, viewer } = await storeWithViewer()
    const h = await startTestCoordinator({ store })
    const older = testParticipant(h, 'a')
    await older.joined
    const dropped = new Promise<string>((resolve) => older.socket.once('disconnect', resolve))
    await testParticipant(h, 'a').joined
    await dropped
    // the server saw the old socket go too: a is still online, once
    const status = (await h.app.inject({ method: 'GET', url: '/api/status', headers: viewer })).json() as {
      online: string[]
    }
    expect(status.online).toEqual(['a'])
  })
})
