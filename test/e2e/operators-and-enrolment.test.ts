import { keyFingerprint } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { describe, expect, it } from 'vitest'
import { connectTo, REAL_TIME, sayHello, seedOf, startTestCoordinator, testParticipant } from '../harness.ts'
import { bearerFor, openTestStore } from '../test-store.ts'

/**
 * Issue 12, items 4 and 5, end to end over real sockets and real HTTP: operators decide who takes
 * part (invites, approval, revocation), nobody takes a name by saying hello first, and the audit log
 * holds every step in order.
 */
describe('operators decide who takes part in a task', () => {
  it('an operator invites two hospitals, approves a third that waits, revokes one; the audit log holds it all in order', async () => {
    const store = await openTestStore()
    const h = await startTestCoordinator({
      ...REAL_TIME,
      store,
      rounds: 2,
      minParticipants: 3,
      participantsPerRound: 3,
    })
    const operator = await bearerFor(store, 'operator', 'olivia')
    const viewer = await bearerFor(store, 'viewer', 'victor')
    const api = (method: 'GET' | 'POST', url: string, headers: object, payload?: object) =>
      fetch(`${h.url}${url}`, {
        method,
        headers: { ...headers, ...(payload ? { 'content-type': 'application/json' } : {}) },
        ...(payload ? { body: JSON.stringify(payload) } : {}),
      })

    // invites for a and b, shown once
    const codes: [string, string] = ['', '']
    for (const participant of ['hospital-a', 'hospital-b']) {
      const res = await api('POST', '/api/tasks/test-task/invites', operator, { participant })
      expect(res.status).toBe(201)
      const { code } = (await res.json()) as { code: string }
      codes[participant === 'hospital-a' ? 0 : 1] = code
    }
    // a viewer may look, not act
    expect((await api('POST', '/api/tasks/test-task/invites', viewer, { participant: 'x' })).status).toBe(403)

    // a stranger cannot take hospital-a's name by saying hello first, nor use another name's code
    const squatter = await sayHello(connectTo(h), {
      participant: 'hospital-a',
      seed: seedOf('squatter'),
      enrol: false,
    })
    expect(squatter).toMatchObject({ ok: false, code: 'pending-approval' })
    expect(
      await sayHello(connectTo(h), {
        participant: 'hospital-z',
        seed: seedOf('z'),
        invite: codes[1],
        enrol: false,
      }),
    ).toMatchObject({ ok: false, code: 'bad-invite' })
    // the squatter's pending request holds the name: hospital-a's invite meets identity-mismatch, so
    // the operator revokes the squatter's request and invites again
    expect(
      (
        await api('POST', '/api/tasks/test-task/participants/hospital-a/revoke', operator, {
          reason: 'not ours',
        })
      ).status,
    ).toBe(200)
    expect((await api('POST', '/api/tasks/test-task/participants/hospital-a/readmit', operator)).status).toBe(
      200,
    )

    const b = await sayHello(connectTo(h), { participant: 'hospital-b', invite: codes[1], enrol: false })
    expect(b).toMatchObject({ ok: true })
    // a used code is refused
    expect(
      await sayHello(connectTo(h), {
        participant: 'hospital-b',
        seed: seedOf('b2'),
        invite: codes[1],
        enrol: false,
      }),
    ).toMatchObject({ ok: false, code: 'identity-mismatch' })

    // hospital-c waits for approval, listed with the fingerprint its client prints
    expect(await sayHello(connectTo(h), { participant: 'hospital-c', enrol: false })).toMatchObject({
      ok: false,
      code: 'pending-approval',
    })
    const listed = (await (await api('GET', '/api/tasks/test-task/participants', viewer)).json()) as {
      participants: { name: string; state: string; fingerprint: string }[]
    }
    expect(listed.participants.find((p) => p.name === 'hospital-c')).toMatchObject({
      state: 'pending',
      fingerprint: keyFingerprint(nodeCrypto.ed25519PublicKey(seedOf('hospital-c'))),
    })
    expect((await api('POST', '/api/tasks/test-task/participants/hospital-c/approve', viewer)).status).toBe(
      403,
    )
    expect((await api('POST', '/api/tasks/test-task/participants/hospital-c/approve', operator)).status).toBe(
      200,
    )
    // approving twice is refused with the reason
    const again = await api('POST', '/api/tasks/test-task/participants/hospital-c/approve', operator)
    expect(again.status).toBe(409)

    // the federation runs with b, c and d (enrolled as the harness does)
    const pb = testParticipant(h, 'hospital-b')
    const pc = testParticipant(h, 'hospital-c')
    const pd = testParticipant(h, 'hospital-d')
    await Promise.all([pb.joined, pc.joined, pd.joined])
    expect(await h.recorded(1)).toMatchObject({ status: 'aggregated' })

    // revoking d takes it out at once, and its next hello is refused
    const gone = new Promise((resolve) => pd.socket.once('disconnect', resolve))
    expect((await api('POST', '/api/tasks/test-task/participants/hospital-d/revoke', operator)).status).toBe(
      200,
    )
    await gone
    expect(await sayHello(connectTo(h), { participant: 'hospital-d', enrol: false })).toMatchObject({
      ok: false,
      code: 'revoked',
    })

    const audit = await store.audit.list({ task: 'test-task', limit: 100, newestFirst: false })
    const steps = audit.map((e) => `${e.action} ${e.target ?? ''} ${e.outcome}`)
    expect(steps).toEqual(
      expect.arrayContaining([
        'participant.invite hospital-a ok',
        'participant.invite hospital-b ok',
        'participant.requested hospital-a ok',
        'participant.hello hospital-z refused',
        'participant.revoke hospital-a ok',
        'participant.enrolled hospital-b ok',
        'participant.requested hospital-c ok',
        'participant.approve hospital-c ok',
        'participant.approve hospital-c refused',
        'participant.revoke hospital-d ok',
        'participant.hello hospital-d refused',
      ]),
    )
    const order = (step: string) => steps.indexOf(step)
    expect(order('participant.invite hospital-b ok')).toBeLessThan(
      order('participant.enrolled hospital-b ok'),
    )
    expect(order('participant.requested hospital-c ok')).toBeLessThan(
      order('participant.approve hospital-c ok'),
    )
    expect(order('participant.revoke hospital-d ok')).toBeLessThan(
      order('participant.hello hospital-d refused'),
    )
    expect(audit.find((e) => e.action === 'participant.approve' && e.outcome === 'ok')?.actor).toBe('olivia')
  })
})
