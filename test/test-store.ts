import { cpSync, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { API_TOKEN_PREFIX, hashPassword, newSecret, secretHash } from '@fedtune/coordinator/operators'
import { type OperatorRole, openStore, type Store, type StoreOptions } from '@fedtune/coordinator/store'
import { inject, onTestFinished } from 'vitest'
import { getCurrentTest } from 'vitest/suite'

/**
 * A real store (embedded PGlite) for tests of what sits on it: each is a copy of one migrated template
 * made once per `vitest run` (creating a PGlite cluster takes seconds, copying one a fraction of that).
 */

let template: Promise<string> | undefined

function templateFolder(): Promise<string> {
  template ??= (async () => {
    const root = inject('storeRoot')
    const done = join(root, 'template')
    if (existsSync(done)) return done
    // Made aside and renamed into place: a file running beside this one sees it whole or not at all.
    const building = mkdtempSync(join(root, 'building-'))
    const store = await openStore(join(building, 'db'))
    await store.close()
    try {
      renameSync(join(building, 'db'), done)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error
    }
    rmSync(building, { recursive: true, force: true })
    return done
  })()
  return template
}

/** A fresh, migrated PGlite folder nothing has open (for a command that opens it itself); removed with the run. */
export async function testStoreFolder(): Promise<string> {
  const source = await templateFolder()
  const folder = mkdtempSync(join(inject('storeRoot'), 'db-'))
  rmSync(folder, { recursive: true })
  cpSync(source, folder, { recursive: true })
  return folder
}

/** A fresh, migrated store of its own; one opened in a test is closed and removed when the test ends. */
export async function openTestStore(opts: StoreOptions = {}): Promise<Store & { readonly folder: string }> {
  const folder = await testStoreFolder()
  const store = await openStore(folder, opts)
  if (getCurrentTest() !== undefined)
    onTestFinished(async () => {
      await store.close()
      rmSync(folder, { recursive: true, force: true })
    })
  return Object.assign(store, { folder })
}

/** The password every test operator has (one scrypt hash per file, not per operator). */
export const TEST_PASSWORD = 'correct horse battery staple'
let testHash: Promise<string> | undefined

/** Adds an operator of `role` to `store` (its name is the role unless given), password TEST_PASSWORD. */
export async function addOperator(store: Store, role: OperatorRole, name: string = role): Promise<void> {
  testHash ??= hashPassword(TEST_PASSWORD)
  await store.operators.add({ name, role, passwordHash: await testHash })
}

/** Headers carrying a fresh API token of a new operator of `role`: what a script sends. */
export async function bearerFor(
  store: Store,
  role: OperatorRole,
  name: string = role,
): Promise<{ authorization: string }> {
  if ((await store.operators.byName(name)) === null) await addOperator(store, role, name)
  const token = newSecret(API_TOKEN_PREFIX)
  await store.tokens.add({ operator: name, label: 'test', tokenHash: secretHash(token) })
  return { authorization: `Bearer ${token}` }
}

/**
 * A store for a test coordinator, with a viewer's API token: pass `store` to startTestCoordinator and
 * send `viewer` as the headers of a request to /api/status or /api/rounds*.
 */
export async function storeWithViewer(): Promise<{
  readonly store: Store
  readonly viewer: { authorization: string }
}> {
  const store = await openTestStore()
  return { store, viewer: await bearerFor(store, 'viewer') }
}
