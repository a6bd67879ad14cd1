import type { AuditEntry } from '@fedtune/coordinator/store'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openTestStore } from '../test-store.ts'

/**
 * Issue 13: the operators' console hears of every audit row as it is kept (store/audit.ts,
 * subscribe): at once, or once its transaction commits; never a row that was rolled back.
 */
describe('listening to the audit log', () => {
  let store: Awaited<ReturnType<typeof openTestStore>>
  beforeAll(async () => {
    store = await openTestStore()
  })
  afterAll(() => store.close())

  it('every appended row, as kept; a transaction’s rows once it commits, none of one rolled back; none after unsubscribing', async () => {
    const heard: AuditEntry[] = []
    const stop = store.audit.subscribe((entry) => heard.push(entry))
    const kept = await store.audit.append({ actor: 'olga', action: 'run.pause', outcome: 'ok', task: 't' })
    expect(heard).toEqual([kept])
    await store.transaction(async (tx) => {
      await tx.audit.append({ actor: 'system', action: 'in.transaction', outcome: 'ok' })
      // not yet: the transaction may still roll back
      expect(heard.map((e) => e.action)).toEqual(['run.pause'])
    })
    expect(heard.map((e) => e.action)).toEqual(['run.pause', 'in.transaction'])
    await expect(
      store.transaction(async (tx) => {
        await tx.audit.append({ actor: 'system', action: 'rolled.back', outcome: 'ok' })
        throw new Error('the transaction fails')
      }),
    ).rejects.toThrow('the transaction fails')
    expect(heard.map((e) => e.action)).toEqual(['run.pause', 'in.transaction'])
    stop()
    await store.audit.append({ actor: 'system', action: 'unheard', outcome: 'ok' })
    expect(heard).toHaveLength(2)
  })

  it('a listener that throws costs neither the append nor the other listeners', async () => {
    const heard: string[] = []
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.message)
    process.on('warning', onWarning)
    const stops = [
      store.audit.subscribe(() => {
        throw new Error('a broken console')
      }),
      store.audit.subscribe((e) => heard.push(e.action)),
    ]
    const warned = new Promise<void>((resolve) => process.once('warning', () => resolve()))
    await expect(
      store.audit.append({ actor: 'system', action: 'still.kept', outcome: 'ok' }),
    ).resolves.toMatchObject({
      action: 'still.kept',
    })
    await warned
    expect(heard).toEqual(['still.kept'])
    expect(warnings.join('\n')).toMatch(/audit listener failed .* a broken console/)
    process.off('warning', onWarning)
    for (const stop of stops) stop()
  })
})
