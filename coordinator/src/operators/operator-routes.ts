import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { OPERATOR_ROLES, type Operator, type OperatorRole } from '../store/operators.ts'
import { StoreError } from '../store/store-error.ts'
import { auditRequest, type OperatorsContext } from './operators-context.ts'
import { hashPassword, PASSWORD_MAX_LENGTH, passwordProblem } from './password.ts'
import { OPERATOR_BODY_LIMIT, parseWith } from './request-body.ts'
import { signedInOf } from './signed-in.ts'

/** An operator's name: printable, no spaces at either end, as the store allows (≤ 200). */
export const OPERATOR_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$/

const Name = z
  .string()
  .regex(OPERATOR_NAME, 'expected a name of letters, digits, ".", "_", "@" or "-" (at most 200)')
const Role = z.enum(OPERATOR_ROLES)
const NewOperator = z.strictObject({
  name: Name,
  role: Role,
  password: z.string().max(PASSWORD_MAX_LENGTH * 4),
})
const Change = z
  .strictObject({ role: Role.optional(), disabled: z.boolean().optional() })
  .refine((c) => c.role !== undefined || c.disabled !== undefined, 'expected role, disabled or both')

/** What the API shows of an operator: never the password hash. */
export function operatorView(o: Operator) {
  return { name: o.name, role: o.role, createdAt: o.createdAt, disabledAt: o.disabledAt }
}

/** The admins' API over operator accounts: list, add, change role, disable (which signs them out everywhere). */
export function operatorRoutes(app: FastifyInstance, ctx: OperatorsContext): void {
  app.get('/api/operators', { config: { access: 'admin' } }, async () => ({
    operators: (await ctx.store.operators.list()).map(operatorView),
  }))

  app.post(
    '/api/operators',
    { config: { access: 'admin' }, bodyLimit: OPERATOR_BODY_LIMIT },
    async (request, reply) => {
      const who = signedInOf(request)
      const body = parseWith(NewOperator, request.body, 'expected a JSON body { name, role, password }')
      if (!body.ok) return reply.code(400).send({ error: 'bad-request', message: body.message })
      const { name, role, password } = body.value
      const refuse = async (status: number, error: string, message: string) => {
        await auditRequest(ctx, request, {
          actor: who.operator.name,
          action: 'operator.add',
          outcome: 'refused',
          target: name,
          detail: { role, reason: error },
        })
        return reply.code(status).send({ error, message })
      }
      const weak = passwordProblem(password)
      if (weak !== null) return refuse(400, 'weak-password', weak)
      try {
        const added = await ctx.store.operators.add({
          name,
          role,
          passwordHash: await hashPassword(password),
        })
        await auditRequest(ctx, request, {
          actor: who.operator.name,
          action: 'operator.add',
          outcome: 'ok',
          target: name,
          detail: { role },
        })
        return reply.code(201).send(operatorView(added))
      } catch (error) {
        if (error instanceof StoreError && error.code === 'conflict')
          return refuse(409, 'conflict', `an operator named "${name}" already exists`)
        throw error
      }
    },
  )

  app.patch<{ Params: { name: string } }>(
    '/api/operators/:name',
    { config: { access: 'admin' }, bodyLimit: OPERATOR_BODY_LIMIT },
    async (request, reply) => {
      const who = signedInOf(request)
      const name = request.params.name
      const body = parseWith(Change, request.body, 'expected a JSON body { role?, disabled? }')
      if (!body.ok) return reply.code(400).send({ error: 'bad-request', message: body.message })
      const change = body.value
      const refuse = async (status: number, error: string, message: string) => {
        await auditRequest(ctx, request, {
          actor: who.operator.name,
          action: 'operator.change',
          outcome: 'refused',
          target: name,
          detail: { ...change, reason: error },
        })
        return reply.code(status).send({ error, message })
      }
      const current = await ctx.store.operators.byName(name)
      if (current === null) return refuse(404, 'not-found', `there is no operator named "${name}"`)
      if (change.disabled === false && current.disabledAt !== null)
        return refuse(
          409,
          'wrong-state',
          `"${name}" was disabled at ${current.disabledAt}; a disabled account stays disabled: add a new one`,
        )
      const stillAdmin = (change.disabled !== true && (change.role ?? current.role) === 'admin') as boolean
      if (
        current.role === 'admin' &&
        current.disabledAt === null &&
        !stillAdmin &&
        (await lastAdmin(ctx, name))
      )
        return refuse(409, 'last-admin', `"${name}" is the last enabled admin; make another admin first`)
      let updated = current
      if (change.role !== undefined && change.role !== current.role)
        updated = await ctx.store.operators.setRole(name, change.role as OperatorRole)
      if (change.disabled === true && current.disabledAt === null)
        updated = await ctx.store.operators.disable(name)
      await auditRequest(ctx, request, {
        actor: who.operator.name,
        action: 'operator.change',
        outcome: 'ok',
        target: name,
        detail: { ...change, before: { role: current.role, disabled: current.disabledAt !== null } },
      })
      return operatorView(updated)
    },
  )
}

async function lastAdmin(ctx: OperatorsContext, name: string): Promise<boolean> {
  const admins = (await ctx.store.operators.list()).filter((o) => o.role === 'admin' && o.disabledAt === null)
  return admins.length === 1 && admins[0]?.name === name
}
