/**
 * Where fedtune's own files are: the pages the coordinator serves, the command `fedtune demo` starts
 * its processes with, the manifest that carries the version. In this repository they are found from
 * the sources' own location (layout.ts); the release package has another layout (release-layout.ts,
 * which the release build puts in layout.ts's place: docs/release.md).
 */
export type InstallLayout = {
  /** client-web's Vite build, served at /join */
  readonly webDir: string
  /** console's Vite build, served at /console */
  readonly consoleDir: string
  /** the script of the `fedtune` command */
  readonly bin: string
  /** the package.json whose `version` is fedtune's */
  readonly manifest: string
  /** the shared data folder `fedtune demo` reads by default */
  readonly sharedDir: string
}
