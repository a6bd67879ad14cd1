import { type ConsolePrivacy, type PrivacySettings, privacyStatement } from '@fedtune/protocol'
import type { RoundRecord } from '../rounds/round-record.ts'
import type { TaskPrivacy } from '../tasks/task-file.ts'

/**
 * A run's privacy as the console shows it: the budget (ε spent of the target) and the statement its
 * participants are shown. A run this coordinator serves says both from its federation; one it does
 * not serve (it ended before a restart) from its task file and its last kept round, without the
 * statement of a private task, whose derived noise only its serving run knew.
 */
export function runPrivacy(o: {
  /** The run's task file's privacy (null: none); undefined before the task has a run. */
  readonly task: TaskPrivacy | null | undefined
  /** What the serving run told its participants (TaskInfo.privacy) and its budget now; null when not served. */
  readonly served: { readonly settings: PrivacySettings | null; readonly spent: ConsolePrivacy | null } | null
  readonly records: readonly RoundRecord[]
}): { readonly privacy: ConsolePrivacy | null; readonly privacyStatement: readonly string[] } {
  if (o.served !== null)
    return { privacy: o.served.spent, privacyStatement: privacyStatement(o.served.settings) }
  if (o.task === undefined) return { privacy: null, privacyStatement: [] }
  if (o.task === null) return { privacy: null, privacyStatement: privacyStatement(null) }
  const last = [...o.records].reverse().find((r) => r.privacy)?.privacy
  return {
    privacy: {
      unit: o.task.unit,
      epsilon: last?.epsilon ?? 0,
      target: o.task.epsilon,
      delta: o.task.delta,
    },
    privacyStatement: [],
  }
}
