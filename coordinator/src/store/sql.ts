/**
 * The one SQL interface the store's repositories speak, over PGlite or a PostgreSQL server alike.
 * Portable PostgreSQL only, parameters `$1…`; jsonb goes in as JSON text (`$n::jsonb`), times as ISO
 * strings (`$n::timestamptz`), bytea as Uint8Array. Rows come back as the engine parsed them (timestamptz
 * a Date, bytea a Uint8Array or Buffer, int8 a number or a string): the repositories normalise them.
 */
export type Sql = {
  query<Row extends object = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<readonly Row[]>
  /**
   * Runs `fn` in one transaction: COMMIT when it resolves, ROLLBACK when it throws. PGlite serialises
   * transactions with every other query; a server gives each transaction a client of its own. Inside a
   * transaction, `transaction` joins it (there are no nested transactions).
   */
  transaction<T>(fn: (sql: Sql) => Promise<T>): Promise<T>
}

/** A Sql with a connection (or an embedded database) to close. */
export type SqlConnection = Sql & {
  /** What the engine is, for messages: `PGlite at <folder>` or the server's URL with its password hidden. */
  readonly describe: string
  close(): Promise<void>
}
