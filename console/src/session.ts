import { get, send, setCsrf } from './api.ts'

export type Role = 'admin' | 'operator' | 'viewer'
export type Operator = { readonly name: string; readonly role: Role }

/** Who is signed in (GET /api/session), or null when nobody is (401). */
export async function currentOperator(): Promise<Operator | null> {
  try {
    const who = await get<{ operator: string; role: Role }>('/api/session')
    return { name: who.operator, role: who.role }
  } catch (error) {
    if ((error as { status?: number }).status === 401) return null
    throw error
  }
}

/** POST /api/session: the session cookie is set by the answer, the CSRF token kept for later requests. */
export async function signIn(name: string, password: string): Promise<Operator> {
  const answer = await send<{ operator: string; role: Role; csrfToken: string }>('POST', '/api/session', {
    name,
    password,
  })
  setCsrf(answer.csrfToken)
  return { name: answer.operator, role: answer.role }
}

export async function signOut(): Promise<void> {
  await send('DELETE', '/api/session')
  setCsrf(null)
}

/** Whether `role` may act (start, pause, approve…): operators and admins; viewers only read. */
export const mayAct = (role: Role) => role !== 'viewer'
