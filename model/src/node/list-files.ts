import { readdir, realpath, stat } from 'node:fs/promises'
import path from 'node:path'

/** A file found under a data folder: where it was found, relative to the folder ("/"-separated), and what it is. */
export type ListedFile = { readonly path: string; readonly relative: string; readonly real: string }

/** Whether `real` (a resolved path) is `root` (a resolved folder) or inside it. */
export function isInside(root: string, real: string): boolean {
  const rel = path.relative(root, real)
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel))
}

/**
 * Every regular file under `dir`, at any depth, whatever its name ends with (the decoder decides
 * by content), hidden names (".DS_Store", ".cache/") skipped, sorted by relative path so that a
 * scan is the same on every machine. Symbolic links are resolved: one leading inside `root` (the
 * resolved data folder) is followed, a folder reached twice is read once (so a link loop ends) and
 * a file reached twice is listed once; a link leading outside `root`, or nowhere, is not followed
 * and comes back in `refused` with the reason. Sockets, pipes and devices are left out.
 */
export async function listFiles(
  dir: string,
  root: string,
): Promise<{ files: ListedFile[]; refused: string[] }> {
  const found: ListedFile[] = []
  const refused: string[] = []
  const start = await realpath(dir)
  const visited = new Set<string>([start])
  const pending: { path: string; relative: string; real: string }[] = [
    { path: dir, relative: '', real: start },
  ]
  for (let folder = pending.pop(); folder !== undefined; folder = pending.pop()) {
    for (const entry of await readdir(folder.path, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue
      const at = {
        path: path.join(folder.path, entry.name),
        relative: folder.relative === '' ? entry.name : `${folder.relative}/${entry.name}`,
        real: path.join(folder.real, entry.name),
      }
      if (entry.isFile()) found.push(at)
      else if (entry.isDirectory()) {
        if (!visited.has(at.real)) pending.push(at)
        visited.add(at.real)
      } else if (entry.isSymbolicLink()) {
        const target = await resolveLink(at.path)
        if (typeof target !== 'string') refused.push(`${at.relative}: ${target.problem}`)
        else if (!isInside(root, target))
          refused.push(`${at.relative}: a symbolic link leading outside the data folder (to ${target})`)
        else {
          const kind = await stat(target)
          if (kind.isFile()) found.push({ ...at, real: target })
          else if (kind.isDirectory() && !visited.has(target)) {
            visited.add(target)
            pending.push({ ...at, real: target })
          }
        }
      }
    }
  }
  found.sort((a, b) => (a.relative < b.relative ? -1 : a.relative > b.relative ? 1 : 0))
  const listed = new Set<string>()
  const files = found.filter((f) => !listed.has(f.real) && listed.add(f.real))
  return { files, refused: refused.sort() }
}

/** Where the link at `file` leads in the end, or why it leads nowhere. */
export async function resolveLink(file: string): Promise<string | { problem: string }> {
  try {
    return await realpath(file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR')
      return { problem: 'a broken symbolic link (its target does not exist)' }
    if (code === 'ELOOP') return { problem: 'a symbolic link that loops' }
    throw error
  }
}
