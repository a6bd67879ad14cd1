/**
 * Small-order X25519 public keys. With one, every clamped secret key gives the all-zero shared
 * secret (RFC 7748 §6.1, §7), so a pairwise mask or share key derived from it is known to everyone:
 * such a key is refused where it arrives (the coordinator at advertise, each participant on the
 * relayed advertisements), and an all-zero result is refused again in every agreement.
 */

/**
 * The u-coordinates of small order and their non-canonical twins: 0 (order 4), 1 (order 1), the two
 * points of order 8, p − 1 (order 2), and p ≡ 0, p + 1 ≡ 1. Bit 255 is ignored, as RFC 7748 §5
 * masks it, so each entry stands for two encodings. libsodium's blocklist, `has_small_order`
 * (crypto_scalarmult/curve25519/ref10/x25519_ref10.c, 1.0.20-RELEASE, line 17), which
 * `crypto_scalarmult_curve25519` applies before multiplying (line 90).
 */
const SMALL_ORDER_U = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((hex) => Uint8Array.from(hex.match(/../g) ?? [], (b) => Number.parseInt(b, 16)))

/** Whether a 32-byte X25519 public key has small order (any encoding of it, bit 255 either way). */
export function isSmallOrderX25519(publicKey: Uint8Array): boolean {
  return SMALL_ORDER_U.some((u) => {
    for (let i = 0; i < 31; i++) if (publicKey[i] !== u[i]) return false
    return ((publicKey[31] as number) & 0x7f) === u[31]
  })
}
