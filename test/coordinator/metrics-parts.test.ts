import type { StageTiming } from '@fedtune/coordinator'
import {
  bearerMatches,
  coordinatorMetrics,
  metricsTokenProblem,
  packetBytes,
  roundMetrics,
} from '@fedtune/coordinator/metrics'
import { describe, expect, it } from 'vitest'
import { parseExposition, sampleValue } from './prometheus-text.ts'

/** The metrics' parts on their own: a run's observer, the registry per coordinator, the token check, the byte count. */

describe('a run’s rounds, as the metrics count them', () => {
  const timing = (stage: StageTiming['stage'], heard: number, at: number): StageTiming => ({
    round: 1,
    stage,
    heard,
    of: 5,
    missing: Array.from({ length: 5 - heard }, (_, i) => `p${i}`),
    openedAt: at,
    lastMessageAt: at + 100,
    closedAt: at + 500,
    relayedAt: at + 750,
  })

  it('counts each stage’s own dropouts, times each stage open and the unmasking, and the round by status', async () => {
    const metrics = coordinatorMetrics(() => [{ task: 'chest', kind: 'hospital', count: 4 }])
    const observer = roundMetrics(metrics, 'chest')
    // five selected; one silent at share-keys, another at masked-input: heard is who the stage no longer waits for
    observer.stageRelayed?.(timing('advertise', 5, 0))
    observer.stageRelayed?.(timing('share-keys', 4, 1000))
    observer.stageRelayed?.(timing('masked-input', 4, 2000))
    observer.stageRelayed?.(timing('unmask', 5, 3000))
    const record = { round: 1, status: 'failed', durationMs: 4250 } as Parameters<
      NonNullable<typeof observer.roundEnded>
    >[0]
    observer.roundEnded?.(record)
    const scraped = parseExposition(await metrics.registry.metrics())
    const at = (name: string, labels: Record<string, string>) => sampleValue(scraped, name, labels)
    expect(
      ['advertise', 'share-keys', 'masked-input', 'unmask'].map((stage) =>
        at('fedtune_dropouts_total', { task: 'chest', stage }),
      ),
    ).toEqual([0, 1, 1, 0])
    expect(at('fedtune_stage_duration_seconds_sum', { task: 'chest', stage: 'share-keys' })).toBe(0.5)
    expect(
      at('fedtune_stage_duration_seconds_bucket', { task: 'chest', stage: 'share-keys', le: '0.25' }),
    ).toBe(0)
    expect(
      at('fedtune_stage_duration_seconds_bucket', { task: 'chest', stage: 'share-keys', le: '0.5' }),
    ).toBe(1)
    expect(at('fedtune_unmask_seconds_sum', { task: 'chest' })).toBe(0.25)
    expect(at('fedtune_rounds_total', { task: 'chest', status: 'failed' })).toBe(1)
    expect(at('fedtune_round_duration_seconds_sum', { task: 'chest', status: 'failed' })).toBe(4.25)
    expect(at('fedtune_participants_online', { task: 'chest', kind: 'hospital' })).toBe(4)
  })

  it('the read pacing: the time it held the event loop, read from the pacer at each scrape, in seconds', async () => {
    let heldMs = 0
    const metrics = coordinatorMetrics(
      () => [],
      () => heldMs,
    )
    const held = async () =>
      sampleValue(parseExposition(await metrics.registry.metrics()), 'fedtune_read_pacing_seconds_total', {})
    expect(await held()).toBe(0)
    heldMs = 1500
    expect(await held()).toBe(1.5)
    heldMs = 1750
    expect(await held()).toBe(1.75)
  })

  it('two coordinators in one process keep their counts apart', async () => {
    const one = coordinatorMetrics(() => [])
    const two = coordinatorMetrics(() => [])
    one.refused.inc({ code: 'no-hello' })
    const read = async (m: typeof one) =>
      sampleValue(parseExposition(await m.registry.metrics()), 'fedtune_refused_messages_total', {
        code: 'no-hello',
      })
    expect(await read(one)).toBe(1)
    expect(await read(two)).toBeUndefined()
  })
})

describe('the metrics token and the bytes counted', () => {
  it('matches only "Bearer <token>" exactly', () => {
    const token = 'sixteen-chars-at-least'
    expect(bearerMatches(`Bearer ${token}`, token)).toBe(true)
    for (const header of [
      undefined,
      '',
      'Bearer ',
      `bearer ${token}`,
      `Bearer ${token} `,
      `Bearer ${token}x`,
      token,
    ])
      expect(bearerMatches(header, token), String(header)).toBe(false)
  })

  it('refuses a token too short or with whitespace, saying why', () => {
    expect(metricsTokenProblem('0123456789abcdef')).toBeNull()
    expect(metricsTokenProblem('short')).toBe('expected a metrics token of at least 16 characters, got 5')
    expect(metricsTokenProblem('0123456789 abcdef')).toMatch(/without whitespace/)
  })

  it('counts a text packet as its type character and its UTF-8 bytes, a binary one as its bytes', () => {
    expect(packetBytes({ type: 'message', data: '2["hello",{}]' })).toBe(14)
    expect(packetBytes({ type: 'message', data: 'é' })).toBe(3)
    expect(packetBytes({ type: 'message', data: new Uint8Array(40) })).toBe(40)
    expect(packetBytes({ type: 'message', data: Buffer.alloc(7) })).toBe(7)
    expect(packetBytes({ type: 'ping' })).toBe(1)
  })
})
