/** One step of the schema: applied once, in order of `version`, inside a transaction. */
export type Migration = {
  readonly version: number
  readonly name: string
  /** Portable PostgreSQL (PGlite and a server alike); several statements separated by semicolons. */
  readonly statements: readonly string[]
}
