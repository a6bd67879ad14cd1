import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { issueInvite, parseTaskFile } from '@fedtune/coordinator'
import { type RunningCoordinator, startCoordinator } from '@fedtune/coordinator/start'
import { initBackend, readBackboneFolder } from '@fedtune/model/node'
import { PNG } from 'pngjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testDatabase } from '../harness.ts'
import { fedtuneProcess } from './fedtune-process.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const backboneDir = join(repo, '..', 'shared', 'backbones', 'mobilenet_v2_0.35_224')
const _bin = join(repo, 'cli', 'bin', 'fedtune.js')
const _run = promisify(execFile)

function fedtune(...args: string[]) {
  return fedtuneProcess(args)
}

const work = mkdtempSync(join(tmpdir(), 'fedtune-cli-'))
let digest: string

beforeAll(async () => {
  digest = (await readBackboneFolder(backboneDir)).digest
})

function taskFile(overrides: Record<string, unknown>): string {
  const path = join(work, `task-${Math.random().toString(36).slice(2)}.json`)
  const task = {
    name: 'cli-test',
    backbone: { source: backboneDir, sha256: digest },
    head: { layers: [], labels: ['normal', 'pneumonia'] },
    training: { rounds: 1 },
    participation: { minParticipants: 2 },
    ...overrides,
  }
  writeFileSync(path, JSON.stringify(task))
  return path
}

// Each test here is a process of its own, started and awaited: they run side by side.
describe.concurrent('every command explains itself', () => {
  it.each([
    [['--help'], 'Usage: fedtune <command>'],
    [['coordinator', '--help'], 'Usage: fedtune coordinator [--task <task.json>]'],
    [['client', '--help'], 'Usage: fedtune client --coordinator'],
    [['data', 'split', '--help'], 'Usage: fedtune data split'],
    [['demo', '--help'], 'Usage: fedtune demo'],
    [['backbone', '--help'], 'Usage: fedtune backbone digest'],
    [['privacy', '--help'], 'Usage: fedtune privacy epsilon --noise <z>'],
    [['task', '--help'], 'Usage: fedtune task <submit <task.json> | show <name>>'],
    [['task', 'init', '--help'], 'Usage: fedtune task init --data <folder> --backbone <folder|url>'],
    [['status', '--help'], 'Usage: fedtune status [--task <name>]'],
    [['runs', '--help'], 'Usage: fedtune runs [--task <name>]'],
    [['run', '--help'], 'fedtune run export (--run <id> | --task <name>) --out <dir>'],
    [['pause', '--help'], 'Usage: fedtune run <start|pause|resume|stop|abort|extend> --task <name>'],
    [['model', '--help'], 'Usage: fedtune model export --run <id> [--round <n>] --out <dir>'],
    [['predict', '--help'], 'Usage: fedtune predict --model <dir> [--json] <images or folders…>'],
  ])('fedtune %j prints its usage', async (args, usage) => {
    const { code, stdout } = await fedtune(...args)
    expect(code).toBe(0)
    expect(stdout).toContain(usage)
  })

  it('--version prints the version in cli/package.json, which the release package carries', async () => {
    const { version } = JSON.parse(readFileSync(join(repo, 'cli', 'package.json'), 'utf8')) as {
      version: string
    }
    const r = await fedtune('--version')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`fedtune ${version}\n`)
  })

  it('the demo offers browser volunteers and refuses a port out of range', async () => {
    const help = await fedtune('demo', '--help')
    expect(help.stdout).toMatch(/--volunteers +also take one browser volunteer per round/)
    const port = await fedtune('demo', '--port', '70000')
    expect(port.code).toBe(2)
    expect(port.stderr).toBe('fedtune demo: --port: expected an integer from 0 to 65535, got "70000"\n')
  })

  it('an unknown command or option is refused with the usage', async () => {
    const unknown = await fedtune('train')
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('unknown command "train"')
    const option = await fedtune('client', '--coordinator', 'http://x', '--data', 'd', '--epochs', '3')
    expect(option.code).toBe(2)
    expect(option.stderr).toMatch(/Unknown option '--epochs'/)
  })

  it('backbone digest prints the digest a task file needs', async () => {
    const { code, stdout } = await fedtune('backbone', 'digest', backboneDir)
    expect(code).toBe(0)
    expect(stdout).toContain(`digest: ${digest}`)
  })

  it('backbone digest of a model.json URL fetches it and its weights and prints the same digest', async () => {
    const server = createServer((req, res) => {
      readFile(join(backboneDir, new URL(req.url ?? '/', 'http://x').pathname.slice(1))).then(
        (bytes) => res.writeHead(200).end(bytes),
        () => res.writeHead(404).end(),
      )
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model.json`
      const { code, stdout } = await fedtune('backbone', 'digest', url)
      expect(code).toBe(0)
      expect(stdout).toMatch(/^[0-9a-f]{64} {2}model\.json$/m)
      expect(stdout).toContain(`digest: ${digest}`)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe('bad input at the coordinator', () => {
  it('a task file with a missing field names the field', async () => {
    const { code, stderr } = await fedtune('coordinator', '--task', taskFile({ training: {} }))
    expect(code).toBe(1)
    expect(stderr).toContain('training.rounds: expected an integer from 1 to 100000, got undefined')
  })

  it('a backbone whose hash does not match is refused with both digests', async () => {
    const wrong = 'f'.repeat(64)
    const { code, stderr } = await fedtune(
      'coordinator',
      '--task',
      taskFile({ backbone: { source: backboneDir, sha256: wrong } }),
      // its folders in the test's, its database a clone on the run's PostgreSQL server (no PGlite
      // cluster to create, nothing left in the repository's .fedtune)
      '--data',
      join(work, 'mismatch'),
      '--database',
      await testDatabase(),
    )
    expect(code).toBe(1)
    expect(stderr).toContain(wrong)
    expect(stderr).toContain(digest)
  })
})

describe('bad input at a hospital', () => {
  let coordinator: RunningCoordinator
  // The coordinator's "left: <name> (…)" lines: a client's exit reaches this process before its
  // closed connection may, so a test waits for the leave itself.
  const left = new Map<string, () => void>()
  const hasLeft = (name: string) => new Promise<void>((resolve) => left.set(name, resolve))

  beforeAll(async () => {
    await initBackend()
    const task = parseTaskFile(
      {
        name: 'bad-input',
        backbone: { source: backboneDir, sha256: digest },
        head: { layers: [], labels: ['normal', 'pneumonia'] },
        training: { rounds: 1 },
        participation: { minParticipants: 2 },
      },
      work,
    )
    coordinator = await startCoordinator({
      task,
      port: 0,
      outDir: join(work, 'run'),
      // a database of its own on the run's PostgreSQL server, cloned in milliseconds
      database: await testDatabase(),
      cacheDir: join(work, 'cache'),
      quiet: true,
      print: (line) => left.get(/^left: (\S+) /.exec(line)?.[1] ?? '')?.(),
    })
  })

  afterAll(async () => {
    await coordinator?.close()
  })

  function folder(files: Record<string, Uint8Array | null>): string {
    const dir = mkdtempSync(join(work, 'data-'))
    for (const [path, bytes] of Object.entries(files)) {
      mkdirSync(join(dir, path, bytes === null ? '' : '..'), { recursive: true })
      if (bytes) writeFileSync(join(dir, path), bytes)
    }
    return dir
  }

  /**
   * Runs one hospital client on `dir` against the coordinator, with a cache of its own, and returns
   * once the coordinator has seen it leave: it joins before it reads its images (they are read after
   * the hello's ack), so every client here leaves, and the next test starts with no one online.
   */
  const hospital = async (dir: string, name: string) => {
    const gone = hasLeft(name)
    // an operator's invite for a name new to the task; a known name comes back with its key
    const enrolled = await coordinator?.store.participants.byName('bad-input', name)
    const invite =
      enrolled === null && coordinator !== undefined
        ? [
            '--invite',
            (
              await issueInvite(coordinator.store, {
                task: 'bad-input',
                participant: name,
                createdBy: 'test',
              })
            ).code,
          ]
        : []
    const result = await fedtune(
      'client',
      '--coordinator',
      coordinator.url,
      '--data',
      dir,
      '--cache',
      join(work, `cache-${name}`),
      '--name',
      name,
      ...invite,
    )
    await gone
    return result
  }

  const png = () => {
    const image = new PNG({ width: 4, height: 4 })
    image.data.fill(128)
    return new Uint8Array(PNG.sync.write(image))
  }

  it('a folder none of whose files is an image stops that client with the first file named; the coordinator carries on', async () => {
    const dir = folder({
      'normal/minutes.png': new TextEncoder().encode('not an image either'),
      'pneumonia/notes.png': new TextEncoder().encode('not an image'),
    })
    const { code, stderr } = await hospital(dir, 'h1')
    expect(code).toBe(1)
    expect(stderr).toMatch(/none of its 2 files could be decoded; the first: .*minutes\.png/)
    expect(stderr).toMatch(/expected a PNG, JPEG or DICOM image/)
    expect(coordinator.federation.state.phase).toBe('waiting')
    expect([...coordinator.federation.state.online]).toEqual([])
  })

  it('an empty class folder stops that client with a clear error', async () => {
    const dir = folder({ 'normal/a.png': png(), pneumonia: null })
    const { code, stderr } = await hospital(dir, 'h2')
    expect(code).toBe(1)
    expect(stderr).toMatch(/pneumonia/)
    expect(stderr).toMatch(/the class folder "pneumonia" holds no files/)
  })

  it('a class folder the task does not know is refused, naming the labels it expects', async () => {
    const dir = folder({ 'normal/a.png': png(), 'covid/b.png': png() })
    const { code, stderr } = await hospital(dir, 'h3')
    expect(code).toBe(1)
    expect(stderr).toMatch(/covid/)
    expect(stderr).toMatch(/normal/)
  })

  it('a coordinator URL that is not one is refused before anything starts', async () => {
    const { code, stderr } = await fedtune('client', '--coordinator', 'coordinator:8080', '--data', work)
    expect(code).toBe(2)
    expect(stderr).toContain('--coordinator: expected an http(s) URL')
  })
})
