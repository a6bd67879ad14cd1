// The volunteer page's masking code, bundled on its own for bench:browser to run in a page.
export { naclCrypto } from '../protocol/src/secagg/crypto.ts'
export { applyKeystreams } from '../protocol/src/secagg/masking.ts'
export { webCryptoApplyMasks } from '../protocol/src/secagg/webcrypto-masks.ts'
