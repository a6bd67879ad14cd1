import { keyFingerprint } from '@fedtune/protocol'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { TaskDirectory } from '../host/task-directory.ts'
import { auditRequest } from '../operators/operators-context.ts'
import { OPERATOR_BODY_LIMIT, parseWith } from '../operators/request-body.ts'
import { signedInOf } from '../operators/signed-in.ts'
import { INVITE_TTL_MS, issueInvite } from '../participants/invite.ts'
import type { Federation } from '../rounds/federation.ts'
import type { Store } from '../store/open-store.ts'
import type { Participant } from '../store/participants.ts'
import { StoreError } from '../store/store-error.ts'

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const Params = z.strictObject({
  task: z.string().regex(NAME, 'expected a task name'),
  name: z.string().regex(NAME, 'expected a participant name'),
})
const TaskParams = z.strictObject({ task: z.string().regex(NAME, 'expected a task name') })
const Reason = z.strictObject({ reason: z.string().max(500).optional() }).optional()
const NewInvite = z.strictObject({
  participant: z.string().regex(NAME, 'expected a participant name ([A-Za-z0-9._-], at most 64)'),
  hours: z
    .number()
    .positive()
    .max(24 * 365)
    .optional(),
})

/** What the API shows of a participant: what the coordinator knows anyway, never an update or a metric. */
export function participantView(p: Participant, online: boolean) {
  return {
    name: p.name,
    kind: p.kind,
    fingerprint: keyFingerprint(p.identityKey),
    state: p.state,
    enrolledVia: p.enrolledVia,
    createdAt: p.createdAt,
    decidedBy: p.decidedBy,
    decidedAt: p.decidedAt,
    reason: p.reason,
    online,
  }
}

type Decision = 'approve' | 'revoke' | 'readmit'

/**
 * Operators decide who takes part in a task: they list its participants (with the key fingerprint each
 * client prints), approve a waiting hello, revoke a participant (out of the open round and every later
 * one at once), re-admit a revoked or excluded one, and issue one-time enrolment codes. Every decision
 * is audited; one the participant's state does not allow is refused with the reason (409).
 */
export function participantRoutes(app: FastifyInstance, store: Store, tasks: TaskDirectory): void {
  // A task is known once submitted: its participants can be invited before its first run starts.
  const known = async (task: string) => (await store.tasks.get(task)) !== null
  /** The task's run serving participants (or last served), if any. */
  const federationOf = (task: string): Federation | undefined => {
    try {
      return tasks.open(task, true).federation
    } catch {
      return undefined
    }
  }
  const isOnline = (task: string, name: string) => federationOf(task)?.state.online.has(name) ?? false

  app.get('/api/tasks/:task/participants', { config: { access: 'viewer' } }, async (request, reply) => {
    const params = parseWith(TaskParams, request.params, 'expected /api/tasks/<task>/participants')
    if (!params.ok) return reply.code(400).send({ error: 'bad-request', message: params.message })
    const { task } = params.value
    if (!(await known(task))) return unknownTask(reply, task)
    const participants = await store.participants.byTask(task)
    return { participants: participants.map((p) => participantView(p, isOnline(task, p.name))) }
  })

  for (const decision of ['approve', 'revoke', 'readmit'] as const)
    app.post(
      `/api/tasks/:task/participants/:name/${decision}`,
      { config: { access: 'operator' }, bodyLimit: OPERATOR_BODY_LIMIT },
      (request, reply) => decide(request, reply, decision),
    )

  async function decide(request: FastifyRequest, reply: FastifyReply, decision: Decision) {
    const who = signedInOf(request).operator.name
    const params = parseWith(
      Params,
      request.params,
      `expected /api/tasks/<task>/participants/<name>/${decision}`,
    )
    if (!params.ok) return reply.code(400).send({ error: 'bad-request', message: params.message })
    const body = parseWith(Reason, request.body ?? undefined, 'expected an optional JSON body { reason }')
    if (!body.ok) return reply.code(400).send({ error: 'bad-request', message: body.message })
    const { task, name } = params.value
    if (!(await known(task))) return unknownTask(reply, task)
    const action = `participant.${decision}`
    try {
      const reason = body.value?.reason ?? null
      const participant =
        decision === 'approve'
          ? await store.participants.approve(task, name, who)
          : decision === 'revoke'
            ? await store.participants.revoke(task, name, who, reason)
            : await store.participants.readmit(task, name, who)
      if (decision === 'revoke')
        federationOf(task)?.expel(name, `revoked by an operator${reason ? `: ${reason}` : ''}`)
      await auditRequest({ store }, request, {
        actor: who,
        action,
        outcome: 'ok',
        target: name,
        task,
      })
      return participantView(participant, isOnline(task, name))
    } catch (error) {
      if (!(error instanceof StoreError) || !['not-found', 'wrong-state', 'invalid'].includes(error.code))
        throw error
      await auditRequest({ store }, request, {
        actor: who,
        action,
        outcome: 'refused',
        target: name,
        task,
        detail: { code: error.code },
      })
      return reply
        .code(error.code === 'not-found' ? 404 : 409)
        .send({ error: error.code, message: error.message })
    }
  }

  app.post(
    '/api/tasks/:task/invites',
    { config: { access: 'operator' }, bodyLimit: OPERATOR_BODY_LIMIT },
    async (request, reply) => {
      const who = signedInOf(request).operator.name
      const params = parseWith(TaskParams, request.params, 'expected /api/tasks/<task>/invites')
      if (!params.ok) return reply.code(400).send({ error: 'bad-request', message: params.message })
      const body = parseWith(NewInvite, request.body, 'expected a JSON body { participant, hours? }')
      if (!body.ok) return reply.code(400).send({ error: 'bad-request', message: body.message })
      const { task } = params.value
      if (!(await known(task))) return unknownTask(reply, task)
      const { participant, hours } = body.value
      if ((await store.participants.byName(task, participant)) !== null) {
        await auditRequest({ store }, request, {
          actor: who,
          action: 'participant.invite',
          outcome: 'refused',
          target: participant,
          task,
          detail: { code: 'conflict' },
        })
        return reply.code(409).send({
          error: 'conflict',
          message: `${participant} is already enrolled in task "${task}"; revoke it first to enrol another key under that name`,
        })
      }
      const invite = await issueInvite(store, {
        task,
        participant,
        createdBy: who,
        ttlMs: hours === undefined ? INVITE_TTL_MS : hours * 3_600_000,
      })
      // the code is in the answer, once; the audit log and the store keep only that one was issued
      await auditRequest({ store }, request, {
        actor: who,
        action: 'participant.invite',
        outcome: 'ok',
        target: participant,
        task,
        detail: { expiresAt: invite.expiresAt },
      })
      return reply.code(201).send({ task, participant, code: invite.code, expiresAt: invite.expiresAt })
    },
  )
}

function unknownTask(reply: FastifyReply, task: string) {
  return reply.code(404).send({
    error: 'not-found',
    message: `expected a task submitted to this coordinator, got "${task}"`,
  })
}
