import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { MIGRATIONS, type Migration, openStore } from '@fedtune/coordinator/store'
import { afterAll, describe, expect, it } from 'vitest'
import { useEngines } from './engines.ts'
import { startPostgresServer } from './postgres-server.ts'
import { refusal } from './refusal.ts'

const engines = useEngines()
const script = fileURLToPath(new URL('./commit-rounds.ts', import.meta.url))
const scratch = mkdtempSync(join(tmpdir(), 'fedtune-store-open-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

describe.each(engines)('on $name', (engine) => {
  it('applies every migration once at the first open and records it in schema_migrations', async () => {
    const store = await openStore(await engine.empty(), { now: () => new Date('2026-01-02T03:04:05Z') })
    try {
      expect(await store.migrations()).toEqual(
        MIGRATIONS.map((m) => ({ version: m.version, name: m.name, appliedAt: '2026-01-02T03:04:05.000Z' })),
      )
      const tables = await store.sql.query<{ table_name: string }>(
        "select table_name from information_schema.tables where table_schema = 'public' order by table_name",
      )
      expect(tables.map((t) => t.table_name)).toEqual([
        'api_tokens',
        'audit',
        'invites',
        'operators',
        'participants',
        'rounds',
        'runs',
        'schema_migrations',
        'sessions',
        'tasks',
      ])
    } finally {
      await store.close()
    }
  })

  it('re-opening a current database changes nothing and keeps its data', async () => {
    const location = await engine.fresh()
    const first = await openStore(location)
    const before = await first.migrations()
    await first.operators.add({ name: 'ada', role: 'admin', passwordHash: 'h' })
    await first.close()
    const again = await openStore(location, { now: () => new Date('2030-01-01T00:00:00Z') })
    try {
      expect(await again.migrations()).toEqual(before)
      expect((await again.operators.byName('ada'))?.role).toBe('admin')
    } finally {
      await again.close()
    }
  })

  it('refuses a database written by a newer fedtune (a migration it does not know), untouched', async () => {
    const location = await engine.fresh()
    const store = await openStore(location)
    await store.sql.query("insert into schema_migrations (version, name) values (99, 'from-the-future')")
    await store.close()
    const error = await refusal(openStore(location))
    expect(error.code).toBe('migration')
    expect(error.message).toMatch(/records migration 99 \(from-the-future\).*newer fedtune/)
    const reopened = await openStore(location, {
      migrations: [
        ...MIGRATIONS,
        ...Array.from({ length: 98 - MIGRATIONS.length }, (_, i) => noop(MIGRATIONS.length + i + 1)),
        { version: 99, name: 'from-the-future', statements: [] },
      ],
    })
    try {
      expect((await reopened.migrations()).at(-1)).toMatchObject({ version: 99, name: 'from-the-future' })
    } finally {
      await reopened.close()
    }
  })

  it('a migration that fails rolls back whole: nothing of it is applied or recorded', async () => {
    const location = await engine.fresh()
    const broken: Migration = {
      version: MIGRATIONS.length + 1,
      name: 'broken',
      statements: ['create table half_done (x integer)', 'select * from no_such_table'],
    }
    const error = await refusal(openStore(location, { migrations: [...MIGRATIONS, broken] }))
    expect(error.code).toBe('migration')
    expect(error.message).toMatch(
      new RegExp(`migration ${broken.version} \\(broken\\) failed: .*no_such_table`),
    )
    const store = await openStore(location)
    try {
      expect((await store.migrations()).map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version))
      const half = await store.sql.query(
        "select 1 from information_schema.tables where table_name = 'half_done'",
      )
      expect(half).toEqual([])
    } finally {
      await store.close()
    }
  })
})

function noop(version: number): Migration {
  return { version, name: `noop-${version}`, statements: [] }
}

describe('opening fails at once, saying where and why', () => {
  const postgres = engines[1]
  it('two coordinators migrating one PostgreSQL database at once both open it, and it is migrated once', async () => {
    if (postgres === undefined) throw new Error('no postgres engine')
    const url = await postgres.empty()
    const [a, b] = await Promise.all([openStore(url), openStore(url)])
    try {
      expect(await a.migrations()).toEqual(await b.migrations())
      expect((await a.migrations()).length).toBe(MIGRATIONS.length)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  it('an unreachable PostgreSQL (a socket folder with no server) is unavailable, password hidden', async () => {
    const empty = mkdtempSync(join(scratch, 'no-server-'))
    const url = `postgres://fedtune:s3cret-pw@localhost/fedtune?host=${encodeURIComponent(empty)}`
    const error = await refusal(openStore(url))
    expect(error.code).toBe('unavailable')
    expect(error.message).toContain(
      `cannot connect to PostgreSQL at postgres://fedtune:***@localhost/fedtune`,
    )
    expect(error.message).toMatch(/ENOENT|No such file|connect/)
    expect(error.message).not.toContain('s3cret-pw')
  })

  it('a PostgreSQL server that goes away after the open makes every query unavailable, naming the server', async () => {
    const server = await startPostgresServer()
    const store = await openStore(await server.createDatabase('gone'))
    try {
      server.stop()
      const lost = await refusal(store.operators.list(), 'unavailable')
      expect(lost.message).toContain(`PostgreSQL at postgres://postgres@localhost/gone`)
      const write = await refusal(
        store.operators.add({ name: 'x', role: 'admin', passwordHash: 'h' }),
        'unavailable',
      )
      expect(write.message).toContain('adding operator "x": PostgreSQL at ')
    } finally {
      await store.close()
    }
  })

  it('a PGlite folder that cannot be created (a file stands in its path) is unavailable, naming the folder', async () => {
    const file = join(scratch, 'a-file')
    writeFileSync(file, 'not a folder')
    const inside = join(file, 'db')
    const error = await refusal(openStore(inside))
    expect(error.code).toBe('unavailable')
    expect(error.message).toContain(`cannot open PGlite at ${inside}: `)
    expect(error.message).toMatch(/ENOTDIR|not a directory/)
    const itself = await refusal(openStore(`pglite:${file}`))
    expect(itself.code).toBe('unavailable')
    expect(itself.message).toContain(`cannot open PGlite at ${file}: `)
  })

  it("a PGlite folder is one process's: a second open, here or in another live process, is refused", async () => {
    const pglite = engines[0]
    if (pglite === undefined) throw new Error('no pglite engine')
    const folder = await pglite.fresh()
    const first = await openStore(folder)
    try {
      const here = await refusal(openStore(folder), 'unavailable')
      expect(here.message).toContain(
        `PGlite at ${folder} is in use by this process: PGlite serves one process`,
      )
    } finally {
      await first.close()
    }
    const child = spawn(process.execPath, ['--import', 'tsx', script, folder, '1', '0'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    const exited = once(child, 'exit')
    try {
      if (child.stdout === null) throw new Error('the child has no stdout')
      for await (const line of createInterface({ input: child.stdout })) if (line.includes('"ready"')) break
      const there = await refusal(openStore(folder), 'unavailable')
      expect(there.message).toContain(`is in use by process ${child.pid}`)
      expect(there.message).toContain(`remove ${join(folder, 'fedtune.lock')}`)
    } finally {
      child.kill('SIGKILL')
      await exited
    }
    // The child died holding the lock: its process is gone, so the next open takes the lock over.
    const after = await openStore(folder)
    await after.close()
  })

  it('a PGlite folder that holds something else than a database is unavailable, naming the folder', async () => {
    const folder = mkdtempSync(join(scratch, 'junk-'))
    writeFileSync(join(folder, 'PG_VERSION'), 'garbage\n')
    const error = await refusal(openStore(folder))
    expect(error.code).toBe('unavailable')
    expect(error.message).toContain(`cannot open PGlite at ${folder}: `)
  })
})
