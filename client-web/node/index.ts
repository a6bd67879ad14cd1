/** Node-side tools for the browser page: building it with Vite and driving it in headless Chromium (tests, bench). */
export { buildPage } from './build-page.ts'
export { chromiumPath, launchChromium } from './chromium.ts'
export { bundlePageScript } from './page-script.ts'
