import { describe, expect, it } from 'vitest'
import { MS, seedOf, sorted, startTestCoordinator, testParticipant } from '../harness.ts'

/**
 * Issue 11, finding 1: two names with one identity key, both online, would put one identity twice
 * in a round's roster ("identity … is listed twice"), and a round started from a timer took the
 * process down. One key, one name: the second name is refused before its ack.
 */
describe('one identity key under two names', () => {
  it('two names presenting one identity key: the second is refused with identity-in-use before its ack, the coordinator survives and the next round completes', async () => {
    const h = await startTestCoordinator({ participantsPerRound: 4 })
    const stolen = seedOf('a')
    const a = testParticipant(h, 'a', { seed: stolen })
    await Promise.all([a.joined, testParticipant(h, 'c').joined, testParticipant(h, 'd').joined])
    const twin = testParticipant(h, 'b', { seed: stolen })
    const closed = new Promise<string>((resolve) => twin.socket.once('disconnect', resolve))
    const ack = await twin.joined
    expect(ack).toMatchObject({ ok: false, code: 'identity-in-use' })
    expect(ack.ok === false && ack.reason).toMatch(
      /^identity key (?:[0-9a-f]{4}:){7}[0-9a-f]{4} is enrolled as a; expected a key of its own for b$/,
    )
    expect(await closed).toBe('io server disconnect')
    // nothing enrolled for b: the run store never heard of it
    expect(h.enrolled.sort()).toEqual(['a', 'c', 'd'])
    expect(h.federation.state.online.has('b')).toBe(false)
    // three online, fewer than a full round of four: the gather window's timer starts the round
    h.clock.fire(MS.gather)
    expect(sorted(await h.recorded(1))).toMatchObject({ status: 'aggregated', survivors: ['a', 'c', 'd'] })
    h.clock.fire(MS.gather)
    expect(sorted(await h.recorded(2))).toMatchObject({ status: 'aggregated', survivors: ['a', 'c', 'd'] })
  })

  it('a name whose key is already pinned to another name is refused however often it tries, and the holder keeps its name', async () => {
    const h = await startTestCoordinator()
    expect(await testParticipant(h, 'holder').joined).toMatchObject({ ok: true })
    for (const name of ['copy-1', 'copy-2'])
      expect(await testParticipant(h, name, { seed: seedOf('holder') }).joined).toMatchObject({
        ok: false,
        code: 'identity-in-use',
      })
    expect(h.enrolled).toEqual(['holder'])
    expect([...h.federation.state.online.keys()]).toEqual(['holder'])
  })
})
