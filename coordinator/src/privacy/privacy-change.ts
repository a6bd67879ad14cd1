import type { TaskPrivacy } from '../tasks/task-file.ts'

/**
 * How a task file's `privacy` differs from the one a run was started with, field by field with the
 * old and new values ("epsilon 3 → 8, noiseMultiplier derived → 1.1"); null when they are the same. A
 * run's privacy cannot change mid-run: its ε was spent under the old settings, and every
 * participant's accountant holds it to them.
 */
export function privacyChange(
  before: TaskPrivacy | null | undefined,
  after: TaskPrivacy | null | undefined,
): string | null {
  const old = before ?? null
  const now = after ?? null
  if (old === null && now === null) return null
  if (old === null || now === null) return `${summary(old)} → ${summary(now)}`
  const fields = ['unit', 'epsilon', 'delta', 'clipNorm', 'noiseMultiplier', 'samplingRate'] as const
  const changed = fields
    .filter((f) => old[f] !== now[f])
    .map((f) => `${f} ${value(old[f])} → ${value(now[f])}`)
  return changed.length === 0 ? null : changed.join(', ')
}

function summary(p: TaskPrivacy | null): string {
  if (p === null) return 'no privacy section'
  return `unit ${p.unit}, epsilon ${p.epsilon}, delta ${p.delta}, clipNorm ${p.clipNorm}, noiseMultiplier ${value(p.noiseMultiplier)}`
}

/** A field's value as the file says it; a noise multiplier left out is derived from ε. */
function value(v: string | number | null): string {
  return v === null ? 'derived' : String(v)
}
