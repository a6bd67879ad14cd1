import { ProtocolError } from './errors.ts'
import type { RoundStart, TaskInfo } from './messages.ts'
import { roundContext, type SecaggContext } from './secagg/context.ts'
import { secureVectorLength } from './secure-update.ts'

/**
 * A participant's check of a secure round's setup against the task it joined, before it takes
 * part: the setup must be for this task and this round, over a vector of exactly the length this
 * task's head gives (and its privacy: a private task sums no counts). Returns the round's context (neighbourhoods, threshold); throws a
 * ProtocolError that says what differs. A round without a setup is refused: a participant in a
 * secure task never sends anything in the clear.
 */
export function secureRoundContext(task: TaskInfo, round: RoundStart): SecaggContext {
  const secagg = round.secagg
  if (secagg === null)
    throw new ProtocolError(
      'malformed',
      `round ${round.round} came without secure aggregation in a secure task; nothing is sent in the clear`,
    )
  const { setup } = secagg
  if (setup.taskId !== task.taskId || setup.round !== round.round)
    throw new ProtocolError(
      'malformed',
      `round ${round.round}: the secure setup is for task ${setup.taskId} round ${setup.round}, expected task ${task.taskId}`,
    )
  // a private task's vector is [Δ…, 1]: its counts stay out of the sum
  const expected = secureVectorLength(
    task.paramCount,
    task.head.labels.length,
    (task.privacy ?? null) !== null,
  )
  if (setup.dim !== expected)
    throw new ProtocolError(
      'wrong-size',
      `round ${round.round}: a secure vector of ${setup.dim} words, expected ${expected} for this task's head`,
    )
  return roundContext(setup)
}
