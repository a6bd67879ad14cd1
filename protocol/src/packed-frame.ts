import { describe } from './describe.ts'
import { ProtocolError } from './errors.ts'

/**
 * One socket.io binary event in one websocket frame. socket.io's protocol v5 sends a binary event as
 * a text header (`5<n>-…` with a placeholder per byte field) and then one binary frame per byte
 * field; a secure round's relayed advertisements and shares have one field per neighbour, so at
 * n = 1000 the coordinator framed, wrote and decoded ~250,000 frames a round (bench/load.ts: 6.3 s
 * of its CPU, a quarter in writev). Packed, each message is one frame:
 *
 *   u32 LE  header length h
 *   h bytes the socket.io header, ASCII (JSON with every non-ASCII character \u-escaped)
 *   then per attachment the header announces: u32 LE length ℓ, ℓ bytes
 *
 * ending exactly after the last attachment. docs/protocol.md, "Framing".
 */

const WORD = 4
/**
 * Characters per String.fromCharCode call: well under any engine's argument limit. The bytes go in
 * with `apply`, not spread: spreading iterates, and cost 51 µs per 1.5 KB header (a relay of 40
 * shares) against 6 µs (Node 20); protocol/src has no TextDecoder (ES2022 only).
 */
const CHUNK = 8192

/** Writes ASCII `text` into `out` at `at`; Node's `Buffer#latin1Write` is a faster one (protocol/node). */
export type WriteAscii = (out: Uint8Array, at: number, text: string) => void

export const writeAsciiByChar: WriteAscii = (out, at, text) => {
  for (let i = 0; i < text.length; i++) out[at + i] = text.charCodeAt(i)
}

export function packFrame(
  header: string,
  attachments: readonly Uint8Array[],
  writeAscii: WriteAscii = writeAsciiByChar,
): Uint8Array {
  const ascii = asciiHeader(header)
  let size = WORD + ascii.length
  for (const a of attachments) size += WORD + a.byteLength
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  view.setUint32(0, ascii.length, true)
  writeAscii(out, WORD, ascii)
  let at = WORD + ascii.length
  for (const a of attachments) {
    view.setUint32(at, a.byteLength, true)
    out.set(a, at + WORD)
    at += WORD + a.byteLength
  }
  return out
}

export type UnpackedFrame = {
  readonly header: string
  /** Views into the frame, in order; whoever keeps one past the message copies it. */
  readonly attachments: readonly Uint8Array[]
}

/** The inverse of `packFrame`; refuses (`malformed`) a frame that does not end where its lengths say. */
export function unpackFrame(frame: Uint8Array): UnpackedFrame {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  const length = (at: number, what: string): number => {
    if (at + WORD > frame.byteLength)
      throw new ProtocolError(
        'malformed',
        `packed frame: expected the 4-byte length of ${what} at byte ${at}, got the end of a ${frame.byteLength}-byte frame`,
      )
    const n = view.getUint32(at, true)
    if (at + WORD + n > frame.byteLength)
      throw new ProtocolError(
        'malformed',
        `packed frame: ${what} says ${n} bytes at byte ${at + WORD}, but the frame ends at ${frame.byteLength}`,
      )
    return n
  }
  const h = length(0, 'the header')
  for (let i = WORD; i < WORD + h; i++) {
    const c = frame[i] as number
    if (c > 0x7f)
      throw new ProtocolError(
        'malformed',
        `packed frame: expected an ASCII header, got byte 0x${c.toString(16)} at ${i}`,
      )
  }
  // ASCII, checked: each byte is its character, taken CHUNK at a time rather than one by one.
  let header = ''
  for (let at = WORD; at < WORD + h; at += CHUNK)
    header += String.fromCharCode.apply(
      null,
      frame.subarray(at, Math.min(at + CHUNK, WORD + h)) as unknown as number[],
    )
  const attachments: Uint8Array[] = []
  let at = WORD + h
  while (at < frame.byteLength) {
    const n = length(at, `attachment ${attachments.length + 1}`)
    attachments.push(frame.subarray(at + WORD, at + WORD + n))
    at += WORD + n
  }
  return { header, attachments }
}

/** The header as ASCII: JSON keeps its meaning when a character outside ASCII is written \uXXXX. */
function asciiHeader(header: string): string {
  const escaped = header.replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
  if (escaped.length > 0xffffffff)
    throw new ProtocolError('too-large', `packed frame: a header of ${describe(escaped.length)} characters`)
  return escaped
}
