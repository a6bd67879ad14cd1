import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { type AddressInfo, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { secureVectorLength } from '@fedtune/protocol'
import { PNG } from 'pngjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runClientCommand } from '../../cli/src/client-command.ts'
import { testIo } from '../cli/test-io.ts'
import { type MainCoordinator, startMainCoordinator } from '../harness.ts'

/**
 * `fedtune client --check`: the data folder, the cache and the coordinator checked, and what each
 * round would send printed as sizes, without joining: the coordinator sees no participant.
 */
const repo = fileURLToPath(new URL('../../', import.meta.url))
const bin = join(repo, 'cli', 'bin', 'fedtune.js')
const run = promisify(execFile)
const work = mkdtempSync(join(tmpdir(), 'fedtune-client-check-'))
let c: MainCoordinator
beforeAll(async () => {
  c = await startMainCoordinator()
})
afterAll(async () => {
  await c?.close()
  rmSync(work, { recursive: true, force: true })
})

function png(level: number): Buffer {
  const image = new PNG({ width: 8, height: 8, colorType: 0 })
  image.data.fill(level)
  return PNG.sync.write(image, { colorType: 0 })
}

/** A class-per-folder tree: `files[label][name]` is the file's content. */
function folder(name: string, files: Record<string, Record<string, Buffer | string>>): string {
  const dir = join(work, name)
  for (const [label, inside] of Object.entries(files)) {
    mkdirSync(join(dir, label), { recursive: true })
    for (const [file, bytes] of Object.entries(inside)) writeFileSync(join(dir, label, file), bytes)
  }
  return dir
}

async function participantsSeen(): Promise<number> {
  return (await c.store.participants.byTask('main')).length + c.federation.state.online.size
}

describe('fedtune client --check', () => {
  it('a good folder and a reachable coordinator: status 0, counts per label and the round’s sizes, and no hello', async () => {
    const data = folder('good', { a: { '1.png': png(10), '2.png': png(20) }, b: { '1.png': png(200) } })
    const cache = join(work, 'cache-good')
    const { stdout } = await run(
      process.execPath,
      [
        bin,
        'client',
        '--check',
        '--coordinator',
        c.url,
        '--data',
        data,
        '--cache',
        cache,
        '--name',
        'hospital-1',
      ],
      { cwd: repo, timeout: 120_000 },
    )
    const params = c.federation.task.paramCount
    expect(stdout).toContain(
      `coordinator ${c.url}: task "main", 1 rounds, labels a, b, head of ${params} parameters, secure aggregation\n`,
    )
    expect(stdout).toContain(`data ${data}: 3 images decode (a 2, b 1)\n`)
    expect(stdout).toContain(`each round sends "masked-input": ${secureVectorLength(params, 2) * 4} bytes (`)
    // what a hospital reads before deciding to join: this task promises no differential privacy
    expect(stdout).toContain('\nThis task gives no differential-privacy guarantee.\n')
    expect(stdout).toContain('each round sends "advertise": 128 bytes (')
    expect(stdout).toContain('each round sends "share-keys": 137 bytes per neighbour (')
    expect(stdout).toContain(
      `each round sends "unmask correction": ${secureVectorLength(params, 2) * 4} bytes (only in a round where a neighbour dropped:`,
    )
    expect(stdout).toMatch(/check passed: nothing was sent and the coordinator saw no participant\n$/)
    expect(await participantsSeen()).toBe(0)
    // not even an identity key: --check leaves nothing behind that joining would use
    expect(existsSync(join(cache, 'identity'))).toBe(false)
  })

  it('images that do not decode are named as a run would skip them; a folder that is not a label: status 1', async () => {
    const broken = folder('broken', {
      a: { '1.png': png(10), 'notes.png': 'not an image' },
      b: { '1.jpg': Buffer.from([0xff, 0xd8, 0xff, 0x00]) },
    })
    const t = testIo()
    expect(
      await runClientCommand(
        ['--check', '--coordinator', c.url, '--data', broken, '--cache', join(work, 'cache-broken')],
        t.io,
      ),
    ).toBe(0)
    expect(t.out()).toContain(`data ${broken}: 1 images decode (a 1, b 0); 2 do not and would be skipped\n`)
    expect(t.out()).toContain(
      `  would be skipped: ${join(broken, 'a', 'notes.png')}: expected a PNG, JPEG or DICOM image, but the file starts with`,
    )
    expect(t.out()).toContain(
      `  would be skipped: ${join(broken, 'b', '1.jpg')}: looks like a JPEG but cannot be decoded`,
    )

    const none = folder('none', { a: { 'notes.png': 'not an image' } })
    const n = testIo()
    expect(
      await runClientCommand(
        ['--check', '--coordinator', c.url, '--data', none, '--cache', join(work, 'cache-none')],
        n.io,
      ),
    ).toBe(1)
    expect(n.out()).toContain(`data ${none}: no image decodes`)
    expect(n.out()).toMatch(/check found 1 problem\n$/)

    const stray = folder('stray', { a: { '1.png': png(10) }, zebra: { '1.png': png(10) } })
    const u = testIo()
    expect(
      await runClientCommand(
        ['--check', '--coordinator', c.url, '--data', stray, '--cache', join(work, 'cache-stray')],
        u.io,
      ),
    ).toBe(1)
    expect(u.out()).toContain(
      `${join(stray, 'zebra')}: "zebra" is not a class of this task; expected subfolders named "a", "b"`,
    )
    expect(await participantsSeen()).toBe(0)
  })

  it('a coordinator that does not answer, or has no such task: status 1 and what was wrong', async () => {
    const data = folder('fine', { a: { '1.png': png(10) } })
    const cache = join(work, 'cache-fine')
    // a port that was just free: nothing listens there
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const { port } = closed.address() as AddressInfo
    await new Promise((resolve) => closed.close(resolve))
    const t = testIo()
    expect(
      await runClientCommand(
        ['--check', '--coordinator', `http://127.0.0.1:${port}`, '--data', data, '--cache', cache],
        t.io,
      ),
    ).toBe(1)
    expect(t.out()).toMatch(
      /coordinator: cannot reach the coordinator at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    )
    // the folder is still checked, against its own subfolders
    expect(t.out()).toContain(`data ${data}: 1 images decode (a 1)\n`)
    const u = testIo()
    expect(
      await runClientCommand(
        ['--check', '--coordinator', c.url, '--task', 'other', '--data', data, '--cache', cache],
        u.io,
      ),
    ).toBe(1)
    expect(u.out()).toMatch(/coordinator: the coordinator answered \/api\/task with 404: /)
  })
})
