import { readdir, readFile, rm, rmdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { DataError } from './data-error.ts'
import { MANIFEST_FILE, parseWrittenFiles } from './split-manifest.ts'

/**
 * Makes `out` ready for a new split. An empty or missing folder is used as is. A non-empty one is
 * refused unless `force`, and then only the files a previous split.json lists are removed (and the
 * folders that leaves empty), so a hand-placed file is never deleted. `targets` are the top-level
 * names the new split will write; if any survives the clean-up, the folder is refused.
 */
export async function prepareOutFolder(
  out: string,
  force: boolean,
  targets: readonly string[],
): Promise<void> {
  const entries = await listFolder(out)
  if (entries.length === 0) return
  if (!force)
    throw new DataError(
      'out-dir-not-empty',
      `--out: expected an empty or new folder, but ${out} holds ${describeEntries(entries)}; pass --force to replace a previous split (only the files its split.json lists are removed)`,
    )
  if (!entries.includes(MANIFEST_FILE))
    throw new DataError(
      'out-dir-not-empty',
      `--out: ${out} holds ${describeEntries(entries)} but no ${MANIFEST_FILE}, so nothing in it was written by fedtune data split; refusing to delete anything there`,
    )
  const manifestPath = join(out, MANIFEST_FILE)
  await removePreviousSplit(manifestPath, out)
  const left = (await listFolder(out)).filter((name) => name !== MANIFEST_FILE && targets.includes(name))
  // The old manifest stays while anything is left, so a later --force can still finish the clean-up.
  if (left.length > 0)
    throw new DataError(
      'out-dir-not-empty',
      `--out: removed the files of the previous split, but ${out} still holds ${left.join(', ')} with files its ${MANIFEST_FILE} did not list; move them away and run again with --force`,
    )
  await rm(manifestPath)
}

async function removePreviousSplit(manifestPath: string, out: string): Promise<void> {
  let parsed: unknown
  try {
    parsed = JSON.parse(await readFile(manifestPath, 'utf8'))
  } catch (cause) {
    throw new DataError(
      'out-dir-not-empty',
      `${manifestPath}: expected JSON from a previous split, got ${String(cause)}`,
    )
  }
  const { folders } = parseWrittenFiles(parsed, manifestPath)
  for (const { site, files } of folders) {
    for (const [className, names] of Object.entries(files)) {
      const folder = join(out, site, className)
      for (const name of names) await rm(join(folder, name), { force: true })
      await removeIfEmpty(folder)
    }
    await removeIfEmpty(join(out, site))
  }
}

/** A folder that still holds something (a file someone added) stays, and so does that file. */
async function removeIfEmpty(folder: string): Promise<void> {
  await rmdir(folder).catch((cause: NodeJS.ErrnoException) => {
    if (cause.code !== 'ENOENT' && cause.code !== 'ENOTEMPTY' && cause.code !== 'EEXIST') throw cause
  })
}

/** Names in `folder`; [] when it does not exist. A path that is a file is an error, not an empty folder. */
async function listFolder(folder: string): Promise<string[]> {
  const info = await stat(folder).catch((cause: NodeJS.ErrnoException) => {
    if (cause.code === 'ENOENT') return null
    throw cause
  })
  if (info === null) return []
  if (!info.isDirectory())
    throw new DataError('bad-option', `--out: expected a folder, but ${folder} is a file`)
  return readdir(folder)
}

function describeEntries(entries: readonly string[]): string {
  const shown = entries.slice(0, 5).join(', ')
  return entries.length > 5 ? `${entries.length} entries (${shown}, …)` : shown
}
