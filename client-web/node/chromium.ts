import { existsSync } from 'node:fs'
import { type Browser, chromium } from 'playwright-core'

/**
 * Debian's Chromium (package `chromium`), which `.ci/run` installs when missing. The real binary, not
 * the /usr/bin/chromium wrapper script (which only adds flags Playwright passes anyway). Override
 * with FEDTUNE_CHROMIUM.
 */
const CANDIDATES = ['/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser']

export function chromiumPath(): string {
  const override = process.env.FEDTUNE_CHROMIUM
  if (override) {
    if (!existsSync(override)) throw new Error(`FEDTUNE_CHROMIUM=${override}: no such file`)
    return override
  }
  const found = CANDIDATES.find((p) => existsSync(p))
  if (found === undefined)
    throw new Error(
      `no Chromium found (looked for ${CANDIDATES.join(', ')}): install Debian's package with \`apt-get install -y chromium\` (.ci/run does), or set FEDTUNE_CHROMIUM`,
    )
  return found
}

/**
 * Headless Chromium for the browser tests and bench. The flags keep it off the network (this machine
 * has none but loopback and the registries) and give WebGL through SwiftShader, the CPU renderer,
 * as a machine without a GPU has it. `extraArgs` go last (a test switches WebGL off with them).
 */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-gl=angle',
      '--use-angle=swiftshader',
      '--enable-unsafe-swiftshader',
      ...extraArgs,
    ],
  })
}
