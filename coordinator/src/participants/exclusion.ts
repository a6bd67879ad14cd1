/**
 * A participant a secure round's complaints named the culprit (protocol/src/secagg/complaint.ts):
 * it is out of the rest of the run. `by` is the participant whose complaint named it (itself, for
 * a false complaint). The round record lists them (`excluded`, and `disputed` for pairs the
 * coordinator could not settle, who are not excluded).
 */
export type Exclusion = { readonly participant: string; readonly by: string; readonly reason: string }

/** An exclusion with the round that decided it (the store keeps the participant `excluded`). */
export type ExcludedEntry = Exclusion & { readonly round: number }
