import { createHash } from 'node:crypto'
import { keyFingerprint as keyPrint, type ParticipantKind, ProtocolError } from '@fedtune/protocol'
import type { Participant, Store } from '../store/index.ts'
import { StoreError } from '../store/index.ts'
import type { Enrolment } from '../tasks/task-file.ts'

/** What a hello claims, once its proof has verified: a name, a kind, the key it proved, an enrolment code. */
export type HelloClaim = {
  readonly participant: string
  readonly kind: ParticipantKind
  readonly identityKey: Uint8Array
  readonly invite?: string | undefined
}

/**
 * Who may take part: decided at every hello, before the ack, from the store. A name is reserved by
 * its invite or an operator's approval, never by whoever says hello first; one key, one name; a
 * revoked or excluded participant stays out until an operator re-admits it. `admit` resolves when
 * the hello may join and throws a ProtocolError with the code of the refusal otherwise (any other
 * error is the coordinator's: the shell answers `internal`, and the participant tries again).
 */
export type Admission = {
  admit(claim: HelloClaim, address: string): Promise<void>
}

export type AdmissionOptions = {
  readonly store: Store
  readonly task: string
  readonly enrolment: Enrolment
  readonly now?: () => number
}

const HOUR_MS = 3_600_000
/** Addresses whose volunteer enrolments of the last hour are counted; beyond, the oldest are forgotten. */
const MAX_ADDRESSES = 10_000

export function storeAdmission(opts: AdmissionOptions): Admission {
  const { store, task, enrolment } = opts
  const now = opts.now ?? Date.now
  /** Volunteer enrolments per address within the last hour (a bounded map; oldest address first out). */
  const recent = new Map<string, number[]>()

  const audit = (
    action: string,
    claim: HelloClaim,
    address: string,
    outcome: 'ok' | 'refused',
    detail?: object,
  ) =>
    store.audit.append({
      actor: claim.participant,
      action,
      outcome,
      address,
      task,
      target: claim.participant,
      detail: { kind: claim.kind, key: keyPrint(claim.identityKey), ...detail },
    })

  const refuse = async (
    claim: HelloClaim,
    address: string,
    code: ConstructorParameters<typeof ProtocolError>[0],
    reason: string,
  ): Promise<never> => {
    await audit('participant.hello', claim, address, 'refused', { code })
    throw new ProtocolError(code, reason)
  }

  return {
    async admit(claim, address) {
      const { participant: name, identityKey } = claim
      const refuseOut = (out: Participant) =>
        refuse(
          claim,
          address,
          out.state as 'revoked' | 'excluded',
          out.state === 'revoked'
            ? `${out.name} was revoked from task "${task}"${out.reason ? ` (${out.reason})` : ''}; only an operator can re-admit it`
            : `${out.name} was excluded from task "${task}" (${out.reason ?? 'named the culprit of a secure round'}); re-admission is the operator's decision`,
        )
      const known = await store.participants.byName(task, name)
      if (known !== null) {
        // A name out of the task is out whatever key says hello under it.
        if (known.state === 'revoked' || known.state === 'excluded') return refuseOut(known)
        if (!Buffer.from(known.identityKey).equals(identityKey))
          return refuse(
            claim,
            address,
            'identity-mismatch',
            `${name} is enrolled in task "${task}" with identity key ${keyPrint(known.identityKey)}, this hello has ${keyPrint(identityKey)}`,
          )
        switch (known.state) {
          case 'approved':
            return
          case 'pending':
            return refuse(
              claim,
              address,
              'pending-approval',
              `${name} (key ${keyPrint(identityKey)}) waits for an operator's approval in task "${task}"`,
            )
        }
      }
      const holder = await store.participants.byKey(task, identityKey)
      // ... and so is its key, under any other name
      if (holder !== null && (holder.state === 'revoked' || holder.state === 'excluded'))
        return refuseOut(holder)
      if (holder !== null)
        return refuse(
          claim,
          address,
          'identity-in-use',
          `identity key ${keyPrint(identityKey)} is enrolled as ${holder.name}; expected a key of its own for ${name}`,
        )
      const stored = { task, name, kind: claim.kind, identityKey }
      if (claim.invite !== undefined) {
        try {
          await store.invites.redeem({ ...stored, codeHash: inviteHash(claim.invite) })
        } catch (error) {
          if (!(error instanceof StoreError)) throw error
          if (error.code === 'conflict')
            return refuse(claim, address, 'identity-in-use', `${name} or its key was enrolled meanwhile`)
          if (error.code === 'not-found' || error.code === 'used' || error.code === 'expired')
            return refuse(
              claim,
              address,
              'bad-invite',
              `the enrolment code is ${error.code === 'not-found' ? `not one issued for ${name} in task "${task}"` : error.code === 'used' ? 'already used' : 'expired'}; ask the operator for a new one`,
            )
          throw error
        }
        await audit('participant.enrolled', claim, address, 'ok', { via: 'invite' })
        return
      }
      const mode = claim.kind === 'hospital' ? enrolment.hospitals : enrolment.volunteers.mode
      if (mode === 'invite')
        return refuse(
          claim,
          address,
          'invite-required',
          `task "${task}" enrols ${claim.kind === 'hospital' ? 'hospitals' : 'volunteers'} by invite, and ${name} has none; ask the operator for an enrolment code`,
        )
      if (mode === 'approval') {
        try {
          await store.participants.request(stored)
        } catch (error) {
          if (error instanceof StoreError && error.code === 'conflict')
            return refuse(claim, address, 'identity-in-use', `${name} or its key was enrolled meanwhile`)
          throw error
        }
        await audit('participant.requested', claim, address, 'ok')
        throw new ProtocolError(
          'pending-approval',
          `${name} (key ${keyPrint(identityKey)}) is listed for an operator's approval in task "${task}"; it joins once approved`,
        )
      }
      // open enrolment: volunteers, within the task's cap and the address's hourly rate
      if ((await store.participants.count(task, 'browser')) >= enrolment.volunteers.maxParticipants)
        return refuse(
          claim,
          address,
          'enrolment-full',
          `task "${task}" has enrolled its ${enrolment.volunteers.maxParticipants} volunteers`,
        )
      const t = now()
      const times = (recent.get(address) ?? []).filter((at) => at > t - HOUR_MS)
      if (times.length >= enrolment.volunteers.perAddressPerHour)
        return refuse(
          claim,
          address,
          'enrolment-full',
          `expected at most ${enrolment.volunteers.perAddressPerHour} volunteer enrolments per hour from one address, got more from this one`,
        )
      try {
        await store.participants.enrolOpen(stored)
      } catch (error) {
        if (error instanceof StoreError && error.code === 'conflict')
          return refuse(claim, address, 'identity-in-use', `${name} or its key was enrolled meanwhile`)
        throw error
      }
      recent.delete(address)
      recent.set(address, [...times, t])
      if (recent.size > MAX_ADDRESSES) recent.delete(recent.keys().next().value as string)
      await audit('participant.enrolled', claim, address, 'ok', { via: 'open' })
    },
  }
}

/** How the store keeps an enrolment code: its SHA-256, never the code. */
export function inviteHash(code: string): string {
  return createHash('sha256').update(code).digest('hex')
}
