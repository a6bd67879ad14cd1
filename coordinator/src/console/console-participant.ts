import { type ConsoleParticipant, escapeText, keyFingerprint } from '@fedtune/protocol'
import type { RoundRecord } from '../rounds/round-record.ts'
import type { Participant } from '../store/participants.ts'

/** What the socket shell told the console about a participant's last connection. */
export type Seen = { readonly lastSeen: string; readonly agent: string }

/** How many rounds a participant took part in, dropped out of and was excluded in, from the run's records. */
export function participantCounts(
  records: readonly RoundRecord[],
  name: string,
  /**
   * Who dropped out of a round, by the stage they left at, when the coordinator watched it (its
   * timeline entry): a failed secure round's record lists everyone outside the sum as dropped,
   * those who answered every stage too.
   */
  droppedIn: (round: number) => readonly string[] | undefined = () => undefined,
): { readonly rounds: number; readonly dropouts: number; readonly exclusions: number } {
  let rounds = 0
  let dropouts = 0
  let exclusions = 0
  for (const r of records) {
    const inSum = r.survivors
      ? r.survivors.includes(name)
      : r.contributions.some((c) => c.participant === name)
    if (inSum) rounds++
    // an operator's abort drops everyone from the round's sum; no one dropped out
    else if ((droppedIn(r.round) ?? r.dropped).includes(name) && !(r.reason ?? '').startsWith('aborted by '))
      dropouts++
    if (r.excluded?.some((e) => e.participant === name)) exclusions++
  }
  return { rounds, dropouts, exclusions }
}

/** One row of the participants table: the store's enrolment, online or not, its counters, its last connection. */
export function consoleParticipant(
  stored: Participant,
  online: boolean,
  excludedNow: boolean,
  seen: Seen | undefined,
  records: readonly RoundRecord[],
  /** An online participant is seen now (ISO). */
  now: string,
  droppedIn?: (round: number) => readonly string[] | undefined,
): ConsoleParticipant {
  return {
    task: stored.task,
    name: escapeText(stored.name, 80),
    kind: stored.kind,
    fingerprint: keyFingerprint(stored.identityKey),
    state: excludedNow && stored.state === 'approved' ? 'excluded' : stored.state,
    online,
    lastSeen: online ? now : (seen?.lastSeen ?? null),
    ...participantCounts(records, stored.name, droppedIn),
    agent: seen ? escapeText(seen.agent, 200) : null,
  }
}
