import { randomBytes } from 'node:crypto'
import type { Store } from '../store/index.ts'
import { inviteHash } from './admission.ts'

/** How long an enrolment code stays valid unless the operator says otherwise. */
export const INVITE_TTL_MS = 7 * 24 * 3_600_000

/**
 * 32 characters of base64url that never start with "-": a code is typed after `--invite`, and a
 * command line's parser reads a leading dash as another option (1 code in 64 otherwise). Drawing
 * again keeps the codes uniform over the rest, at under 6 bits of 192 lost.
 */
export function newInviteCode(random: (n: number) => Uint8Array = randomBytes): string {
  for (;;) {
    const code = Buffer.from(random(24)).toString('base64url')
    if (!code.startsWith('-')) return code
  }
}

/**
 * A one-time enrolment code for `participant` in `task`: 32 characters of base64url (192 random
 * bits), shown once to whoever issues it; the store keeps its hash. The participant presents it in
 * its first hello (`fedtune client --invite`), which enrols it under that name.
 */
export async function issueInvite(
  store: Pick<Store, 'invites'>,
  invite: {
    readonly task: string
    readonly participant: string
    readonly createdBy: string
    readonly ttlMs?: number
  },
  now: () => number = Date.now,
): Promise<{ readonly code: string; readonly expiresAt: string }> {
  const code = newInviteCode()
  const expiresAt = new Date(now() + (invite.ttlMs ?? INVITE_TTL_MS)).toISOString()
  await store.invites.issue({
    task: invite.task,
    participant: invite.participant,
    codeHash: inviteHash(code),
    createdBy: invite.createdBy,
    expiresAt,
  })
  return { code, expiresAt }
}
