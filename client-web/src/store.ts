/**
 * Everything the page keeps between visits, in one IndexedDB database, so that "stop" can delete
 * all of it in one call: this browser's identity key, the verified backbone files and, for a task
 * with differential privacy, the rounds it released (spent-rounds.ts: its privacy budget). Images
 * and embeddings are never stored; they live in memory until the page closes or the volunteer stops.
 */
const DATABASE = 'fedtune-volunteer'
const STORE = 'kv'

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'))
  })
}

let opened: Promise<IDBDatabase> | undefined

function database(): Promise<IDBDatabase> {
  opened ??= new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined')
      return reject(new Error('this browser offers no IndexedDB (a private window may disable it)'))
    const r = indexedDB.open(DATABASE, 1)
    r.onupgradeneeded = () => r.result.createObjectStore(STORE)
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error ?? new Error('cannot open IndexedDB'))
    r.onblocked = () => reject(new Error('IndexedDB is held by another tab of this page; close it and retry'))
  })
  return opened
}

export async function load<T>(key: string): Promise<T | undefined> {
  const db = await database()
  return (await request(db.transaction(STORE).objectStore(STORE).get(key))) as T | undefined
}

export async function save(key: string, value: unknown): Promise<void> {
  const db = await database()
  const tx = db.transaction(STORE, 'readwrite')
  tx.objectStore(STORE).put(value, key)
  await new Promise<void>((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB write failed'))
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB write aborted (is the disk full?)'))
  })
}

/**
 * Deletes the whole database: what "stop" promises. 'deleted' once it is gone; 'pending' if another
 * tab of the page still holds it open, in which case the browser deletes it as soon as that tab
 * closes it (the page says so rather than claim it is gone).
 */
export async function deleteEverything(): Promise<'deleted' | 'pending'> {
  const db = opened ? await opened.catch(() => undefined) : undefined
  db?.close()
  opened = undefined
  return new Promise((resolve, reject) => {
    const r = indexedDB.deleteDatabase(DATABASE)
    r.onsuccess = () => resolve('deleted')
    r.onerror = () => reject(r.error ?? new Error('cannot delete the IndexedDB database'))
    r.onblocked = () => resolve('pending')
  })
}

/** Keys currently stored (for the page to show what it holds, and for the test to check deletion). */
export async function storedKeys(): Promise<string[]> {
  const db = await database()
  return (await request(db.transaction(STORE).objectStore(STORE).getAllKeys())).map(String)
}
