/**
 * GF(2^8) with the AES reduction polynomial x^8 + x^4 + x^3 + x + 1 (0x11b, FIPS 197 §4.2), the field
 * Shamir's scheme runs in byte by byte: every byte value is a field element, so a 32-byte key splits
 * into 32-byte shares with no encoding step.
 *
 * Two kinds of operation live here. Tables (log/exp to generator 3) serve arithmetic on public values
 * only — share x-coordinates and Lagrange coefficients — because a table index leaks through the cache.
 * Products that touch a secret go through {@link mulTable}: eight masked XORs per byte, no
 * secret-dependent index or branch.
 */

/** exp[i] = 3^i, doubled to 510 entries so exp[log a + log b] needs no reduction mod 255. */
const EXP = new Uint8Array(510)
/** log[a] for a ≠ 0; log[0] is unused (0 has no logarithm). */
const LOG = new Uint8Array(256)
{
  let x = 1
  for (let i = 0; i < 255; i++) {
    EXP[i] = x
    EXP[i + 255] = x
    LOG[x] = i
    // x · 3 = x · 2 ⊕ x; x · 2 is a left shift reduced by 0x11b when the top bit falls out.
    x ^= (x << 1) ^ (x & 0x80 ? 0x11b : 0)
  }
}

/** Product of two public field elements (table lookup: not for secrets). */
export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0
  return EXP[(LOG[a] as number) + (LOG[b] as number)] as number
}

/** Quotient a / b of two public field elements; b must be non-zero. */
export function gfDiv(a: number, b: number): number {
  if (b === 0) throw new RangeError('gfDiv: division by zero in GF(2^8)')
  if (a === 0) return 0
  return EXP[(LOG[a] as number) + 255 - (LOG[b] as number)] as number
}

/**
 * The eight products c·x^i (i = 0..7) of a public constant c. With them c·y for a secret byte y is
 * ⊕_i [bit i of y]·(c·x^i), computed with masks instead of an index into a table.
 */
export function mulTable(c: number): Uint8Array {
  const table = new Uint8Array(8)
  let v = c & 0xff
  for (let i = 0; i < 8; i++) {
    table[i] = v
    v = ((v << 1) ^ (v & 0x80 ? 0x11b : 0)) & 0xff
  }
  return table
}

/** c·y in constant time, for the c whose {@link mulTable} is `table` and any (secret) byte y. */
export function mulByTable(table: Uint8Array, y: number): number {
  return (
    (-(y & 1) & (table[0] as number)) ^
    (-((y >>> 1) & 1) & (table[1] as number)) ^
    (-((y >>> 2) & 1) & (table[2] as number)) ^
    (-((y >>> 3) & 1) & (table[3] as number)) ^
    (-((y >>> 4) & 1) & (table[4] as number)) ^
    (-((y >>> 5) & 1) & (table[5] as number)) ^
    (-((y >>> 6) & 1) & (table[6] as number)) ^
    (-((y >>> 7) & 1) & (table[7] as number))
  )
}
