/** "@fedtune/protocol/node": native (node:crypto) accelerations of the browser-safe protocol code. */
export { nodeAesCtr, nodeCrypto } from './crypto.ts'
export { MaskPool, maskPool } from './mask-pool.ts'
export { NodePackedEncoder } from './packed-encoder.ts'
