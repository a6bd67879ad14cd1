import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger, Participant } from '@fedtune/client-node'
import { nodeCrypto } from '@fedtune/protocol/node'
import { afterAll, describe, expect, it } from 'vitest'
import { seedOf, startMainCoordinator, testParticipant } from '../harness.ts'
import { writeImageFolder } from '../tls/image-folder.ts'

/**
 * A task of grades (`head.ordinal: true`) as a hospital's client takes part in it: the task it
 * receives says the labels are grades, so its own figures for the head it receives carry quadratic
 * weighted kappa and the grade MAE. A real client in this process on the real backbone; the other
 * hospital is the harness's scripted participant.
 */
const work = mkdtempSync(join(tmpdir(), 'fedtune-ordinal-client-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const grades = ['none', 'mild', 'severe']

describe('a hospital client in a task of grades', () => {
  it("prints the received head's QWK and grade MAE on its own validation images", async () => {
    const c = await startMainCoordinator({
      head: { labels: grades, ordinal: true },
      training: { rounds: 1, localEpochs: 1, batchSize: 8 },
      participation: { minParticipants: 2, participantsPerRound: 2, gatherSeconds: 0 },
    })
    try {
      expect(c.federation.task.ordinal).toBe(true)
      const name = 'hospital-1'
      await c.enrol(name, 'hospital', nodeCrypto.ed25519PublicKey(seedOf(name)))
      const events: Record<string, unknown>[] = []
      const hospital = new Participant({
        coordinatorUrl: c.url,
        dataDir: writeImageFolder(join(work, 'images'), grades, 6),
        cacheDir: join(work, 'cache'),
        name,
        valFraction: 0.5,
        agent: 'test',
        log: createLogger('json', (line) => events.push(JSON.parse(line) as Record<string, unknown>)),
        progress: undefined,
        identitySeed: seedOf(name),
        allowPlaintext: false,
      })
      testParticipant(c, 'scripted')
      expect(await hospital.done).toMatchObject({ how: 'finished', completed: 1 })

      // its own 9 validation images (3 of each grade), the head received at the round's start
      const global = events.find((e) => e.event === 'global-metrics')
      expect(global).toMatchObject({ round: 1, examples: 9 })
      expect(global?.mae).toEqual(expect.any(Number))
      expect(global).toHaveProperty('qwk')
      expect(global?.message).toMatch(/; QWK (\d\.\d{3}|-), MAE \d\.\d{3}$/)
      // and the coordinator reads the pooled counts as grades too
      expect(c.records[0]?.participants?.ordinal?.mae).toEqual(expect.any(Number))
    } finally {
      await c.close()
    }
  }, 120_000)
})
