/**
 * Secure aggregation (SecAgg+: Bonawitz et al., CCS 2017, with the neighbourhoods of Bell et al.,
 * CCS 2020): the primitives, the wire, and both sides of a round. Runs in Node and the browser;
 * Node callers pass `nodeCrypto` from "@fedtune/protocol/node" for native speed.
 */
export {
  MAX_DIM,
  MAX_NEIGHBOURHOOD,
  type RoundContextOptions,
  roundContext,
  type SecaggContext,
} from './context.ts'
export { type Mask, naclCrypto, type SecaggCrypto, type Signed, verifyEach, x25519All } from './crypto.ts'
export {
  addInto,
  clipL2,
  decodeWeightedSum,
  encodeWeighted,
  type FixedPoint,
  fixedPointFor,
  subtractFrom,
} from './fixed-point.ts'
export { concatBytes, hkdfSha512, hmacSha512 } from './hkdf.ts'
export { PARTICIPANT_ID, participantId } from './identity.ts'
export {
  applyMask,
  applyMasks,
  pairMaskKey,
  pairSign,
  type RoundLabel,
  selfMaskKey,
  shareKey,
} from './masking.ts'
export {
  type Advertisement,
  encodeSecaggSetup,
  encodeSharePlaintext,
  encodeWords,
  type IncomingShares,
  type MaskedInput,
  type NeighbourAdvertisements,
  PUBLIC_KEY_BYTES,
  parseAdvertisement,
  parseIncomingShares,
  parseMaskedInput,
  parseNeighbourAdvertisements,
  parseSealedShares,
  parseSecaggSetup,
  parseSharePlaintext,
  parseUnmaskRequest,
  parseUnmaskResponse,
  SECRET_BYTES,
  type SealedShares,
  type SecaggSetup,
  SHARE_CIPHERTEXT_BYTES,
  SHARE_PLAINTEXT_BYTES,
  type ShareKind,
  type SharePlaintext,
  SIGNATURE_BYTES,
  type SignedKeys,
  type Stage,
  type StageHeader,
  survivorBits,
  survivorsOf,
  type UnmaskRequest,
  type UnmaskResponse,
  type WireSecaggSetup,
} from './messages.ts'
export { neighbourhoods, ringOrder, secaggParameters, survivorGroups } from './neighbours.ts'
export { type ParticipantStage, SecaggParticipant, type SecaggParticipantOptions } from './participant.ts'
export { openShare, sealShare } from './secretbox.ts'
export {
  type SecaggOutcome,
  SecaggServer,
  type SecaggServerOptions,
  type ServerStage,
  type StageOutcome,
} from './server.ts'
export { type Share, shamirCombine, shamirSplit } from './shamir.ts'
export { type TranscriptLabel, transcript } from './transcript.ts'
export { type CurveSubtle, webCryptoVerifyEach, webCryptoX25519Each } from './webcrypto-curves.ts'
