import type { Migration } from './migration.ts'

/**
 * Where each run keeps its files beside the database (heads/round-NNNN.f32, FedAdam's moments, the
 * readable rounds.jsonl): the initial head and the optimizer's state are read back from there by
 * `GET /api/runs/<id>/rounds/<n>/head` and `fedtune run export`. Null for a run that never prepared.
 */
export const runFolder: Migration = {
  version: 2,
  name: 'run-folder',
  statements: [
    'alter table runs add column folder text check (folder is null or length(folder) between 1 and 4096)',
  ],
}
