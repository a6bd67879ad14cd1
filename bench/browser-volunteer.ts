import type { Browser, Page } from 'playwright-core'

export type VolunteerRun = {
  readonly page: Page
  /** The backend the page embedded on (body[data-backend]). */
  readonly backend: string
  /** Images/s over decoding and embedding, as the page measured it (body[data-embed-rate]). */
  readonly embedRate: number
  /** The page's own line about the embedding ("… with the backbone on wasm: WebAssembly with SIMD, 1 thread."). */
  readonly embedded: string
  /** From navigating to /join until the page has joined: page load, backbone download and check, embedding. */
  readonly openToWaitingMs: number
  /**
   * Images/s after the page's first step of STEP images, from its progress bar: the rate without
   * the warm-up (kernel compilation) that the first step pays. Null if the bar skipped the marks.
   */
  readonly afterFirstStep: number | null
}

/** Images the page decodes and embeds per step (client-web/src/embedding.ts), as its bar counts them. */
export const STEP = 8

/**
 * A volunteer as a person would be one, in a fresh page (a fresh browser context, so nothing is
 * cached: the backbone is downloaded again): opens /join, picks `folder` through the folder input,
 * opts in, joins, and resolves once the page has embedded the images and waits for a round. `backend`
 * forces the page's embedding backend (its ?backend= parameter); without it the page chooses. Fails
 * at the first error the page throws rather than waiting for a state that will never come.
 */
export async function openVolunteer(
  browser: Browser,
  url: string,
  folder: string,
  opts: {
    readonly images: number
    readonly backend?: 'webgl' | 'wasm'
    readonly timeoutMs: number
  },
): Promise<VolunteerRun> {
  const page = await browser.newPage()
  const thrown = pageErrors(page)
  try {
    const started = performance.now()
    await page.goto(`${url}/join/${opts.backend ? `?backend=${opts.backend}` : ''}`)
    // The folder input ignores a pick made before the task is shown.
    await page.locator('#task-title', { hasText: 'Task:' }).waitFor({ timeout: 30_000 })
    await page.setInputFiles('#folder', folder)
    await page.locator('#counts', { hasText: `${opts.images} images:` }).waitFor({ timeout: 30_000 })
    await page.check('#opt-in')
    await page.evaluate(watchProgressBar)
    await page.click('#join')
    // With the others already online a round starts as soon as the page joins, so "waiting" may
    // last a moment only; "in-round" comes after it.
    const joined = '#status:is([data-state="waiting"], [data-state="in-round"], [data-state="error"])'
    await Promise.race([page.waitForSelector(joined, { timeout: opts.timeoutMs }), thrown])
    const openToWaitingMs = performance.now() - started
    const status = page.locator('#status')
    if ((await status.getAttribute('data-state')) === 'error')
      throw new Error(`the volunteer page failed: ${await status.textContent()}`)
    const rate = Number(await page.getAttribute('body', 'data-embed-rate'))
    if (!(rate > 0)) throw new Error(`the page reported no embedding rate (data-embed-rate ${rate})`)
    const marks = await page.evaluate(() => (globalThis as unknown as BenchGlobals).fedtuneBenchBar ?? {})
    const first = marks[String(STEP)]
    const last = marks[String(opts.images)]
    return {
      afterFirstStep:
        first !== undefined && last !== undefined && last > first && opts.images > STEP
          ? ((opts.images - STEP) * 1000) / (last - first)
          : null,
      page,
      backend: (await page.getAttribute('body', 'data-backend')) ?? '?',
      embedRate: rate,
      embedded: (await page.textContent('#embedded')) ?? '',
      openToWaitingMs,
    }
  } catch (error) {
    await page.close()
    throw error
  }
}

/** Just enough of the DOM for the functions evaluated in the page; the bench's own types have none. */
type BenchGlobals = {
  document: { getElementById(id: string): { getAttribute(name: string): string | null } | null }
  MutationObserver: new (
    callback: () => void,
  ) => { observe(target: unknown, options: { attributeFilter: string[] }): void }
  /** performance.now() in the page when the progress bar first showed each value. */
  fedtuneBenchBar?: Record<string, number>
}

/**
 * Runs in the page: notes when the progress bar first shows each value. progress.value is reflected
 * in the value attribute, and a MutationObserver runs right after the step that set it, before the
 * page yields, so the times are the page's own. While embedding the bar counts images (bytes before,
 * while the backbone downloads, which never land exactly on STEP or on the image count).
 */
function watchProgressBar(): void {
  const page = globalThis as unknown as BenchGlobals
  const bar = page.document.getElementById('bar')
  if (bar === null) return
  const seen: Record<string, number> = {}
  page.fedtuneBenchBar = seen
  new page.MutationObserver(() => {
    seen[bar.getAttribute('value') ?? ''] ??= performance.now()
  }).observe(bar, { attributeFilter: ['value'] })
}

/**
 * Rejects a second after the page (or one of its workers) first throws, with every distinct message
 * of that second: a failing worker often reports a bare "ErrorEvent" first and its cause after.
 */
function pageErrors(page: Page): Promise<never> {
  const messages = new Set<string>()
  const thrown = new Promise<never>((_, reject) => {
    page.on('pageerror', (error) => {
      if (messages.size === 0)
        setTimeout(() => reject(new Error(`the volunteer page threw: ${[...messages].join('; ')}`)), 1000)
      messages.add(error.message)
    })
  })
  thrown.catch(() => {})
  return thrown
}

/** Just enough of WebGL for the evaluated function below; the bench's own types have no DOM. */
type Gl = {
  getExtension(name: 'WEBGL_debug_renderer_info'): { UNMASKED_RENDERER_WEBGL: number } | null
  getParameter(parameter: number): unknown
}
type CanvasDocument = {
  createElement(tag: 'canvas'): { getContext(kind: 'webgl2' | 'webgl'): Gl | null }
}

/**
 * What renders WebGL in this browser, from a fresh canvas's WEBGL_debug_renderer_info: on a
 * machine without a GPU, "ANGLE (Google, Vulkan … (SwiftShader Device …))", a CPU rasterizer.
 */
export async function webglRenderer(browser: Browser): Promise<string> {
  const page = await browser.newPage()
  try {
    return await page.evaluate(() => {
      const doc = (globalThis as unknown as { document: CanvasDocument }).document
      const canvas = doc.createElement('canvas')
      const gl2 = canvas.getContext('webgl2')
      const gl = gl2 ?? doc.createElement('canvas').getContext('webgl')
      if (gl === null) return 'no WebGL in this browser'
      const info = gl.getExtension('WEBGL_debug_renderer_info')
      const version = gl2 ? 'WebGL 2' : 'WebGL 1'
      return info === null
        ? `${version}, renderer masked (no WEBGL_debug_renderer_info)`
        : `${version}: ${String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL))}`
    })
  } finally {
    await page.close()
  }
}
