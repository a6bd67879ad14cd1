import type { ImageView } from '@fedtune/protocol'

/**
 * What volunteer-embedding.test.ts asks of its page (page-embedding.ts, which type-checks with the
 * page's DOM types in client-web/tsconfig.json) and what the page answers.
 */
export type PageInput = {
  /** The backbone's files, served at /backbone/<name>. */
  readonly backboneFiles: readonly string[]
  /** Image files served at /images/<name>, embedded in this order. */
  readonly images: readonly string[]
  readonly views: readonly ImageView[]
  readonly backend: 'webgl' | 'wasm'
}

export type PageEmbeddings = {
  readonly backend: 'webgl' | 'wasm'
  readonly dim: number
  /** Row-major n·dim, as the page's Dataset holds them. */
  readonly x: readonly number[]
}
