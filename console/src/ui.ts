import type { Pending } from './confirm.tsx'
import type { Role } from './session.ts'

/** What every view gets from the shell: who is signed in, and how an action is confirmed, run and reported. */
export type Ui = {
  readonly role: Role
  readonly operator: string
  /** Asks for confirmation, then runs `call`; its outcome (or refusal, with the reason) is shown. */
  readonly confirm: (pending: Omit<Pending, 'run'>, call: () => Promise<string>) => void
  /** Runs `call` at once and shows its outcome: for what needs no confirmation (a download). */
  readonly run: (call: () => Promise<string>) => Promise<void>
  /** Shows a message (a refusal the view found itself). */
  readonly refused: (text: string) => void
}
