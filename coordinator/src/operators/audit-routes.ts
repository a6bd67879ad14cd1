import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { AUDIT_PAGE_MAX, type AuditEntry, type AuditFilter } from '../store/audit.ts'
import type { OperatorsContext } from './operators-context.ts'
import { parseWith } from './request-body.ts'

const count = (what: string, max = 2 ** 31 - 1) =>
  z
    .string()
    .regex(/^[1-9][0-9]{0,15}$/, `expected ${what} as a positive decimal integer`)
    .transform(Number)
    .refine((n) => n <= max, `expected ${what} of at most ${max}`)

const AuditQuery = z.strictObject({
  run: count('a run id').optional(),
  task: z.string().min(1).max(200).optional(),
  actor: z.string().min(1).max(200).optional(),
  action: z.string().min(1).max(200).optional(),
  limit: count('a limit', AUDIT_PAGE_MAX).optional(),
  before: count('an audit entry id', Number.MAX_SAFE_INTEGER).optional(),
})

export const AUDIT_PAGE_DEFAULT = 100

/** The page of the audit log the API answers: newest first; `next` is the `before` of the next page (null: none). */
export type AuditPage = { readonly entries: readonly AuditEntry[]; readonly next: number | null }

/** GET /api/audit (admins): the audit log, newest first, filtered, a page at a time. */
export function auditRoutes(app: FastifyInstance, ctx: OperatorsContext): void {
  app.get('/api/audit', { config: { access: 'admin' } }, async (request, reply) => {
    const query = parseWith(
      AuditQuery,
      request.query,
      'expected query parameters run, task, actor, action, limit, before',
    )
    if (!query.ok) return reply.code(400).send({ error: 'bad-request', message: query.message })
    const { limit = AUDIT_PAGE_DEFAULT, ...given } = query.value
    const filter: AuditFilter = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined))
    const entries = await ctx.store.audit.list({ ...filter, limit, newestFirst: true })
    const last = entries.at(-1)
    const page: AuditPage = { entries, next: entries.length === limit && last !== undefined ? last.id : null }
    return page
  })
}
