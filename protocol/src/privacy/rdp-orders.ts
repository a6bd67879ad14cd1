/**
 * The Rényi orders α the accountant tracks: 1.1 to 10.9 in steps of 0.1, every integer from 11 to 63,
 * then 128, 256, 512 and 1024 (156 orders). They are Google dp_accounting's `DEFAULT_RDP_ORDERS`
 * (rdp_privacy_accountant.py), so an ε from here can be compared with one from there order for order:
 * fine steps where moderate ε (about 1 to 10) finds its best order, sparse ones where only very small
 * ε or large noise looks. Each is computed as dp_accounting does (1 + x/10 in doubles), so 2, 3, … 10
 * are exact integers and take the integer-order formula.
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, i) => 1 + (i + 1) / 10),
  ...Array.from({ length: 53 }, (_, i) => 11 + i),
  128,
  256,
  512,
  1024,
])
