import { StoreError } from './store-error.ts'

/** Where the store lives: an embedded PGlite folder or a PostgreSQL server's URL. */
export type StoreLocation =
  | { readonly engine: 'pglite'; readonly folder: string }
  | { readonly engine: 'postgres'; readonly url: string }

/**
 * `postgres://…` or `postgresql://…` is a server; `pglite:<folder>` or any other string is a folder
 * for PGlite (created when missing).
 */
export function parseLocation(location: string): StoreLocation {
  if (location.trim() === '')
    throw new StoreError('unavailable', 'openStore: expected a folder or a postgres:// URL, got ""')
  if (/^postgres(ql)?:\/\//i.test(location)) return { engine: 'postgres', url: location }
  if (location.startsWith('pglite:')) {
    const folder = location.slice('pglite:'.length)
    if (folder === '')
      throw new StoreError('unavailable', `openStore: expected a folder after "pglite:", got "${location}"`)
    return { engine: 'pglite', folder }
  }
  return { engine: 'pglite', folder: location }
}

/** The location with any password replaced by `***`, fit for a message or a log. */
export function redactLocation(location: string): string {
  // userinfo is everything between "//" and the last "@" before the path; the password follows its first ":".
  const redacted = location.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^/?#]*@/i, '$1:***@')
  return redacted.replace(/([?&]password=)[^&#]*/gi, '$1***')
}
