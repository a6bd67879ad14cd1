import { describe, expect, it } from 'vitest'
import { connectTo, sayHello } from '../harness.ts'
import { settledMemory, startAttacked } from './attack-fixture.ts'

describe('a participant flooding the coordinator with events', () => {
  it('past its token bucket, is closed with rate-limited, logged once; memory returns and the next participant joins', async () => {
    const coordinator = await startAttacked({ eventsPerSecond: 5, eventBurst: 10 })
    const before = await settledMemory()
    const socket = connectTo(coordinator)
    expect(await sayHello(socket, { participant: 'flooder' })).toMatchObject({ ok: true })
    const refused = new Promise((resolve) => socket.once('refused', resolve))
    for (let i = 0; i < 5000; i++)
      socket.emit('secagg', { taskId: 'attacked', round: 1, stage: 'advertise' }, () => {})
    expect(await refused).toMatchObject({
      code: 'rate-limited',
      reason: 'expected at most 5 events per second (bursts of 10), got more',
    })
    await new Promise((resolve) => socket.once('disconnect', resolve))
    expect(coordinator.lines.filter((l) => l.includes('rate-limited'))).toHaveLength(1)
    expect(await settledMemory()).toBeLessThan(before * 1.1)
    const next = connectTo(coordinator)
    expect(await sayHello(next, { participant: 'next' })).toMatchObject({ ok: true })
  })
})
