/** A mask to add (sign 1) or subtract (sign −1): the AES-128-CTR keystream under a 16-byte key. */
export type Mask = { readonly key: Uint8Array; readonly sign: 1 | -1 }
