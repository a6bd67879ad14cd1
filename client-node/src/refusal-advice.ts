import type { ReceivedRefusalCode } from '@fedtune/protocol'

/** Who the hospital is, for advice that names its task, name and key file. */
export type AdviceContext = {
  readonly task: string | undefined
  readonly name: string
  readonly keyFile: string
}

/**
 * What a hospital does about a refusal, said after the coordinator's reason: the next step, as a
 * command where there is one. Only final refusals (`refusalIsFinal`) and waiting for approval need it.
 */
export function refusalAdvice(code: ReceivedRefusalCode, c: AdviceContext): string {
  const task = c.task === undefined ? '<task>' : c.task
  switch (code) {
    case 'wrong-version':
      return 'this client and the coordinator speak different protocol versions: install the fedtune version the coordinator runs'
    case 'unknown-task':
      return 'pass --task with one of the tasks the coordinator has open (its reason lists them)'
    case 'task-finished':
      return "this task's run is over; ask the coordinator's operator which task to join next"
    case 'revoked':
      return `an operator revoked ${c.name}; only the coordinator's operator can let it take part again`
    case 'invite-required':
      return `this task enrols hospitals by invite: ask the operator for a code (fedtune participant invite --task ${task} ${c.name}) and pass it with --invite-file <file> or --invite <code>`
    case 'bad-invite':
      return `ask the operator for a new enrolment code for ${c.name} (fedtune participant invite --task ${task} ${c.name}): a code is good once, for one name, until it expires`
    case 'excluded':
      return `the coordinator excluded ${c.name} after a complaint in a secure round; only its operator can re-admit it`
    case 'identity-mismatch':
      return `${c.name} is enrolled with another identity key: run with the key it enrolled with (${c.keyFile}), or choose another --name`
    case 'identity-in-use':
      return `this identity key (${c.keyFile}) is enrolled under another name: run with that --name`
    case 'pending-approval':
      return `read this client's identity key fingerprint to the coordinator's operator, who approves it with: fedtune participant approve --task ${task} ${c.name}`
    case 'bad-key':
    case 'bad-proof':
      return `the coordinator could not verify this client's identity key; if ${c.keyFile} was edited, restore it, else report this as a bug`
    default:
      return 'retrying cannot change this; report it to the coordinator’s operator with this message'
  }
}
