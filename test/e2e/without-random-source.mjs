// Preloaded (`node --import`) into a hospital client process by test/e2e/private-federation.test.ts:
// a platform without WebCrypto's getRandomValues, the only source privacy noise may draw from.
Object.defineProperty(globalThis.crypto, 'getRandomValues', { value: undefined, configurable: true })
