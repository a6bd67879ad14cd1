import { execFileSync, spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'

/** A throwaway PostgreSQL cluster on a unix socket in a temp folder of its own: no port, no clash. */
export type PostgresServer = {
  /** The folder holding the socket (and the cluster, in `data/`). */
  readonly socketDir: string
  /** A connection URL for `database` on this server (over its unix socket, as the postgres user). */
  url(database: string): string
  /** Creates an empty database and gives its URL. */
  createDatabase(database: string): Promise<string>
  stop(): void
}

const MISSING = "install Debian's postgresql: apt-get install postgresql"

/** The newest installed PostgreSQL's bin folder; never a skip: a missing package fails the tests with how to fix it. */
export function postgresBin(): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : []
  const newest = versions[0]
  if (newest === undefined) throw new Error(`no PostgreSQL in ${root}/<version>/bin: ${MISSING}`)
  return join(root, newest, 'bin')
}

function postgresIds(): { readonly uid: number; readonly gid: number } {
  const read = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim())
  return { uid: read('-u'), gid: read('-g') }
}

/** Runs a PostgreSQL binary as the postgres user (initdb refuses root), and fails with its output. */
function asPostgres(bin: string, args: readonly string[]): void {
  const command =
    process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', bin, ...args] : [bin, ...args]
  const [file, ...rest] = command as [string, ...string[]]
  const result = spawnSync(file, rest, { encoding: 'utf8' })
  if (result.status !== 0)
    throw new Error(
      `${bin} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}${result.stdout}`,
    )
}

/**
 * Starts a cluster of Debian's `postgresql` (initdb, then pg_ctl start -w, which returns once it takes
 * connections) listening only on a unix socket in a fresh temp folder. fsync is off: the tests' data
 * need not survive the machine (the SIGKILL tests kill the client process, not the server).
 */
export async function startPostgresServer(): Promise<PostgresServer> {
  const bin = postgresBin()
  const socketDir = mkdtempSync(join(tmpdir(), 'fedtune-pg-'))
  if (process.getuid?.() === 0) {
    const { uid, gid } = postgresIds()
    chownSync(socketDir, uid, gid)
  }
  const data = join(socketDir, 'data')
  const remove = () => rmSync(socketDir, { recursive: true, force: true })
  try {
    asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'])
    asPostgres(join(bin, 'pg_ctl'), [
      '-D',
      data,
      '-w',
      '-s',
      '-l',
      join(socketDir, 'server.log'),
      '-o',
      `-c listen_addresses='' -c unix_socket_directories='${socketDir}' -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`,
      'start',
    ])
  } catch (error) {
    remove()
    throw error
  }
  const url = (database: string) =>
    `postgres://postgres@localhost/${database}?host=${encodeURIComponent(socketDir)}`
  return {
    socketDir,
    url,
    async createDatabase(database) {
      const admin = new pg.Client({ connectionString: url('postgres') })
      await admin.connect()
      try {
        await admin.query(`create database "${database.replaceAll('"', '""')}"`)
      } finally {
        await admin.end()
      }
      return url(database)
    },
    stop() {
      try {
        asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-w', '-s', '-m', 'immediate', 'stop'])
      } finally {
        remove()
      }
    },
  }
}
