import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { attachConsole, ConsoleFeed, type FeedHost } from '@fedtune/coordinator'
import { CSRF_COOKIE, newSecret, SESSION_COOKIE, secretHash } from '@fedtune/coordinator/operators'
import { CONSOLE_NAMESPACE, CONSOLE_SOCKET_PATH, type ConsoleRefusal } from '@fedtune/protocol'
import { io as connect } from 'socket.io-client'
import { describe, expect, it, onTestFinished } from 'vitest'
import { addOperator, openTestStore } from '../test-store.ts'

/**
 * A console's session is checked again while it stays connected: one that expires without anyone
 * signing out (no audit row to prompt a check) is cut at the next periodic check, told why. Real
 * store (PGlite), real HTTP server and socket.io on port 0.
 */
describe('a console whose session expires while it is connected', () => {
  it('is told its session expired and disconnected at the next check', async () => {
    const store = await openTestStore()
    await addOperator(store, 'viewer', 'vic')
    const token = newSecret()
    await store.sessions.create({
      tokenHash: secretHash(token),
      operator: 'vic',
      csrfHash: secretHash(newSecret()),
      expiresAt: new Date(Date.now() + 3_600_000),
      address: null,
    })
    const host: FeedHost = {
      list: () => [],
      open: () => {
        throw new Error('no task')
      },
      runOf: () => null,
      preparingOf: () => null,
    }
    const feed = new ConsoleFeed({ store, host })
    const server = createServer()
    const consoles = attachConsole(server, { store, feed, recheckMs: 50 })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    onTestFinished(async () => {
      await consoles.close()
      feed.close()
      await new Promise((resolve) => server.close(resolve))
    })
    const { port } = server.address() as AddressInfo
    const socket = connect(`http://127.0.0.1:${port}${CONSOLE_NAMESPACE}`, {
      path: CONSOLE_SOCKET_PATH,
      transports: ['websocket'],
      reconnection: false,
      extraHeaders: { cookie: `${SESSION_COOKIE}=${token}; ${CSRF_COOKIE}=x` },
    })
    onTestFinished(() => {
      socket.disconnect()
    })
    const signedOut = new Promise<ConsoleRefusal>((resolve) => socket.on('signed-out', resolve))
    const disconnected = new Promise<string>((resolve) => socket.on('disconnect', resolve))
    const welcome = await new Promise<{ operator: { name: string } }>((resolve, reject) => {
      socket.on('welcome', resolve)
      socket.on('connect_error', reject)
    })
    expect(welcome.operator.name).toBe('vic')
    // still valid: a watch (which checks the session again first) is answered, and it stays connected
    expect(await socket.timeout(10_000).emitWithAck('watch', 'none')).toMatchObject({
      ok: false,
      error: 'unknown-task',
    })
    expect(socket.connected).toBe(true)

    // then it expires (its row changed in place: no sign-out, no audit row): the next check cuts it, saying why
    await store.sql.query(
      `update sessions set created_at = now() - interval '2 hours', expires_at = now() - interval '1 minute' where token_hash = $1`,
      [secretHash(token)],
    )
    expect(await signedOut).toEqual({
      code: 'session-expired',
      message: expect.stringMatching(/^this session expired at .*; sign in again/),
    })
    expect(await disconnected).toBe('io server disconnect')
  })
})
