import type { ParticipantKind } from '@fedtune/protocol'
import type { TaskDirectory } from '../host/task-directory.ts'
import type { OnlineCount } from './coordinator-metrics.ts'

const KINDS: readonly ParticipantKind[] = ['hospital', 'browser']

/** Who is online in each serving run, by kind (both kinds, zeros too, so each series exists while the run serves). */
export function onlineParticipants(tasks: TaskDirectory): OnlineCount[] {
  const counts: OnlineCount[] = []
  for (const listed of tasks.list()) {
    if (listed.phase !== 'serving') continue
    const { online } = tasks.open(listed.name, true).federation.state
    for (const kind of KINDS) {
      let count = 0
      for (const k of online.values()) if (k === kind) count++
      counts.push({ task: listed.name, kind, count })
    }
  }
  return counts
}
