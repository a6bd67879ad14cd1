/** What an operator did to a run, for the host's audit log (FederationOptions.onControl). */
export type ControlEvent = {
  readonly action: 'paused' | 'resumed' | 'aborted' | 'extended' | 'stopped'
  /** Who: the operator's name as the host authenticated it. */
  readonly by: string
  /** The round in progress, or the last one that ended (0 before the first). */
  readonly round: number
  /** What exactly: the abort's reason, the new deadline, whether the pause waits for a round. */
  readonly detail: string
}
