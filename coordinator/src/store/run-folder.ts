import { join } from 'node:path'

/**
 * A run's folder beside the database: heads/round-NNNN.f32 (the global head after each aggregated
 * round, round 0 being the initial head), written whole before the round's row commits, and a
 * readable copy of the rounds (rounds.jsonl, rounds.svg). The database is the source of truth: a
 * restarted coordinator reads its rounds from there and the last aggregated head from here.
 */
export class RunFolderError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'RunFolderError'
  }
}

export function headFile(dir: string, round: number): string {
  return join(dir, 'heads', `round-${String(round).padStart(4, '0')}.f32`)
}

/** FedAdam's moments after `round` (m then v, float32), beside that round's head. */
export function serverStateFile(dir: string, round: number): string {
  return join(dir, 'heads', `round-${String(round).padStart(4, '0')}.adam.f32`)
}

/** The run's input centre (the validation set's mean embedding, `head.inputCentre`), JSON `{ "centre": [...] }`. */
export function inputCentreFile(dir: string): string {
  return join(dir, 'input-centre.json')
}
