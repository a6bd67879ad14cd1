/** The backbone's files are served under their digest, so a URL names exactly one content forever. */
export function backbonePath(digest: string): string {
  return `/backbone/${digest}/`
}
