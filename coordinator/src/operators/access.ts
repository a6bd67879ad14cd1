import type { OperatorRole } from '../store/operators.ts'

/** Who may call a route: anyone, or a signed-in operator with at least this role. */
export const ACCESS_LEVELS = ['public', 'viewer', 'operator', 'admin'] as const
export type Access = (typeof ACCESS_LEVELS)[number]

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Every route declares who may call it; a route without one is refused at registration. */
    access?: Access
  }
}

const RANK: Readonly<Record<OperatorRole, number>> = { viewer: 1, operator: 2, admin: 3 }
const NEEDED: Readonly<Record<Exclude<Access, 'public'>, number>> = { viewer: 1, operator: 2, admin: 3 }

/** Whether an operator of `role` may call a route of `access`: admin ⊃ operator ⊃ viewer. */
export function allows(role: OperatorRole, access: Access): boolean {
  return access === 'public' || RANK[role] >= NEEDED[access]
}

export function isAccess(value: unknown): value is Access {
  return typeof value === 'string' && (ACCESS_LEVELS as readonly string[]).includes(value)
}

/** POST, PUT, PATCH and DELETE change state: with a session cookie they need the CSRF token. */
export function changesState(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE'
}
