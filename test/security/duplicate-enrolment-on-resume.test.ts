import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseTaskFile, RunFolderError } from '@fedtune/coordinator'
import { startCoordinator } from '@fedtune/coordinator/start'
import { initBackend, readBackboneFolder } from '@fedtune/model/node'
import { nodeCrypto } from '@fedtune/protocol/node'
import { afterAll, describe, expect, it } from 'vitest'
import { seedOf, startTestCoordinator } from '../harness.ts'

/**
 * Issue 11, "one key, one name", on resume: a participants.json with one identity key under two
 * names (edited, or written before the check existed) would put that key twice in a round's roster.
 * The coordinator refuses to resume it and names both names and the key.
 */
const backboneDir = join(
  fileURLToPath(new URL('../../../shared/', import.meta.url)),
  'backbones',
  'mobilenet_v2_0.35_224',
)
const work = mkdtempSync(join(tmpdir(), 'fedtune-resume-pins-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const hex = (key: Uint8Array) => Buffer.from(key).toString('hex')

describe('a resumed run whose enrolment has one key under two names', () => {
  it('refuses to start, naming the two names and the key', async () => {
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
    const outDir = join(work, 'run')
    const options = { task, port: 0, outDir, cacheDir: join(work, 'cache'), quiet: true, print: () => {} }
    const first = await startCoordinator(options)
    await first.close()

    const shared = hex(nodeCrypto.ed25519PublicKey(seedOf('shared')))
    const own = hex(nodeCrypto.ed25519PublicKey(seedOf('own')))
    writeFileSync(
      join(outDir, 'participants.json'),
      `${JSON.stringify({ 'hospital-a': shared, 'hospital-b': own, 'hospital-c': shared }, null, 2)}\n`,
    )
    const resumed = startCoordinator({ ...options, resume: true })
    await expect(resumed).rejects.toBeInstanceOf(RunFolderError)
    await expect(resumed).rejects.toThrow(
      `${join(outDir, 'participants.json')}: identity key ${shared} is enrolled under two names, "hospital-a" and "hospital-c"; expected one name per key (remove the pin that is not the key holder's)`,
    )
  })

  it('a federation handed one key under two names refuses to be built, naming both and the key', async () => {
    const key = nodeCrypto.ed25519PublicKey(seedOf('shared'))
    await expect(
      startTestCoordinator({
        enrolled: new Map([
          ['hospital-a', key],
          ['hospital-c', key],
        ]),
      }),
    ).rejects.toThrow(
      `identity key ${hex(key)} is enrolled under two names, hospital-a and hospital-c; one key, one name`,
    )
  })
})
