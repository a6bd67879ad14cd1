import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseTaskFile } from '@fedtune/coordinator'
import { openStore, StoreError } from '@fedtune/coordinator/store'
import { initBackend, readBackboneFolder } from '@fedtune/model/node'
import { nodeCrypto } from '@fedtune/protocol/node'
import { afterAll, describe, expect, it } from 'vitest'
import { seedOf, startQuietCoordinator } from '../harness.ts'
import { testStoreFolder } from '../test-store.ts'

/**
 * Issue 11, "one key, one name", across a restart. The enrolments were a JSON file that could be
 * edited (or written before the check existed) to list one identity key under two names, which would
 * put that key twice in a round's roster. They are now rows of the run store, and the database itself
 * refuses a second name for a key in a task (unique (task, identity_key)), through the store and in raw SQL.
 */
const backboneDir = join(
  fileURLToPath(new URL('../../../shared/', import.meta.url)),
  'backbones',
  'mobilenet_v2_0.35_224',
)
const work = mkdtempSync(join(tmpdir(), 'fedtune-resume-pins-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

describe('a coordinator’s enrolments after a restart', () => {
  it('the database refuses one identity key under two names in a task, however it is written', async () => {
    await initBackend()
    const { digest } = await readBackboneFolder(backboneDir)
    const task = parseTaskFile(
      {
        name: 'pins',
        backbone: { source: backboneDir, sha256: digest },
        head: { labels: ['a', 'b'] },
        training: { rounds: 2 },
        participation: { minParticipants: 3, gatherSeconds: 0 },
      },
      work,
    )
    // A migrated PGlite folder, copied from the run's template (creating a cluster takes seconds).
    const database = await testStoreFolder()
    const first = await startQuietCoordinator(task, work, database)
    await first.close()

    const store = await openStore(database)
    try {
      const shared = nodeCrypto.ed25519PublicKey(seedOf('shared'))
      await store.participants.enrolOpen({
        task: 'pins',
        name: 'hospital-a',
        kind: 'hospital',
        identityKey: shared,
      })
      const second = store.participants.enrolOpen({
        task: 'pins',
        name: 'hospital-c',
        kind: 'hospital',
        identityKey: shared,
      })
      await expect(second).rejects.toBeInstanceOf(StoreError)
      await expect(second).rejects.toMatchObject({ code: 'conflict' })
      await expect(
        store.sql.query(
          `insert into participants (task, name, kind, identity_key, state, enrolled_via, created_at, decided_at)
           values ('pins', 'hospital-c', 'hospital', $1, 'approved', 'open', now(), now())`,
          [shared],
        ),
      ).rejects.toThrow(/unique|duplicate/i)
      expect((await store.participants.byTask('pins')).map((p) => p.name)).toEqual(['hospital-a'])
    } finally {
      await store.close()
    }
  })
})
