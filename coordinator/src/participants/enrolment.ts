import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RunFolderError } from '../store/run-folder.ts'

/**
 * Enrolment: each participant name is pinned to the Ed25519 identity key it first said hello with,
 * and the pins live in the run folder (participants.json) so a resumed coordinator keeps them. A
 * later hello under that name with another key, or with that key under another name, is refused
 * (federation.ts, `enrol`).
 */
export function readEnrolment(dir: string): Map<string, Uint8Array> {
  const file = join(dir, 'participants.json')
  if (!existsSync(file)) return new Map()
  const pins = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>
  const holders = new Map<string, string>()
  for (const [name, key] of Object.entries(pins)) {
    const holder = holders.get(key.toLowerCase())
    // Two names on one key would both be selected into a round, whose roster then lists one
    // identity twice: the file was edited, or written before this check existed.
    if (holder !== undefined)
      throw new RunFolderError(
        `${file}: identity key ${key} is enrolled under two names, ${JSON.stringify(holder)} and ${JSON.stringify(name)}; expected one name per key (remove the pin that is not the key holder's)`,
      )
    holders.set(key.toLowerCase(), name)
  }
  return new Map(Object.entries(pins).map(([name, key]) => [name, Uint8Array.from(Buffer.from(key, 'hex'))]))
}

export function writeEnrolment(dir: string, name: string, identityKey: Uint8Array): void {
  const pins = Object.fromEntries(
    [...readEnrolment(dir)].map(([n, k]) => [n, Buffer.from(k).toString('hex')]),
  )
  pins[name] = Buffer.from(identityKey).toString('hex')
  const file = join(dir, 'participants.json')
  writeFileSync(`${file}.tmp`, `${JSON.stringify(pins, null, 2)}\n`)
  renameSync(`${file}.tmp`, file)
}
