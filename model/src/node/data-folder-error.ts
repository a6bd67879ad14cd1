/** How many problems a message lists; the rest are counted. */
export const PROBLEMS_SHOWN = 50

/**
 * A data folder or labels file with problems, all of them found in one pass: `problems` holds every
 * one ("line 4: unknown label …", "normal/a.png: …"); the message lists the first PROBLEMS_SHOWN,
 * one a line, and counts the rest, so that one run tells a hospital everything to fix.
 */
export class DataFolderError extends Error {
  /** The folder or labels file the problems are in. */
  readonly source: string
  readonly problems: readonly string[]
  /** The first line of the message: where, how many, and what to do if one thing fixes them all. */
  readonly summary: string

  constructor(source: string, problems: readonly string[], advice?: string) {
    const summary = `${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'}, nothing was read${advice ? `; ${advice}` : ''}`
    super([summary, ...shownProblems(problems).map((p) => `  ${p}`)].join('\n'))
    this.name = 'DataFolderError'
    this.source = source
    this.problems = problems
    this.summary = summary
  }
}

/** The first PROBLEMS_SHOWN problems, and a last line counting the others if any. */
export function shownProblems(problems: readonly string[]): string[] {
  const shown = problems.slice(0, PROBLEMS_SHOWN)
  if (problems.length > PROBLEMS_SHOWN) shown.push(`… and ${problems.length - PROBLEMS_SHOWN} more`)
  return shown
}

/**
 * A data folder or labels file laid out otherwise than expected, found before any image is read (no
 * class subfolders, a class the task does not know, files beside the class folders, a labels file
 * that is not one), or a folder none of whose images decode: one problem, said whole in the message.
 * A command turns it into its refusal; anything else thrown while reading data is a bug.
 */
export class DataLayoutError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DataLayoutError'
  }
}
