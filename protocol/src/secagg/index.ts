/**
 * Secure aggregation (SecAgg+: Bonawitz et al., CCS 2017, with the neighbourhoods of Bell et al.,
 * CCS 2020): the primitives, the wire, and both sides of a round. Runs in Node and the browser;
 * Node callers pass `nodeCrypto` from "@fedtune/protocol/node" for native speed.
 */
export {
  complaintTranscript,
  openPairShare,
  shareX,
  signComplaint,
} from './complaint.ts'
export {
  MAX_DIM,
  MAX_NEIGHBOURHOOD,
  type RoundContextOptions,
  roundContext,
  type SecaggContext,
} from './context.ts'
export { type Mask, naclCrypto, type SecaggCrypto, type Signed, verifyEach, x25519All } from './crypto.ts'
export {
  isCanonicalEd25519Point,
  isSmallOrderEd25519Point,
  isStrictEd25519Key,
  isStrictEd25519Signature,
  signatureScalarIsCanonical,
} from './ed25519-strict.ts'
export {
  addInto,
  addWordsInto,
  clipL2,
  decodeWeightedSum,
  encodeWeighted,
  type FixedPoint,
  fixedPointFor,
  subtractFrom,
  subtractWordsFrom,
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
  ADVERTISEMENT_RECORD_BYTES,
  type Advertisement,
  type AdvertisementEntry,
  advertisementRecords,
  type Complaint,
  type ComplaintKind,
  correctsDropouts,
  encodeSecaggSetup,
  encodeSharePlaintext,
  encodeWords,
  type IncomingShare,
  type IncomingShares,
  incomingShareRecords,
  isComplaint,
  MAX_CORRECTION_WORDS,
  type MaskedInput,
  type NeighbourAdvertisements,
  PUBLIC_KEY_BYTES,
  parseAdvertisement,
  parseComplaint,
  parseIncomingShares,
  parseMaskedInput,
  parseNeighbourAdvertisements,
  parseRelayStage,
  parseSealedShares,
  parseSecaggSetup,
  parseSharePlaintext,
  parseUnmaskRequest,
  parseUnmaskResponse,
  RELAY_STAGES,
  REVEALED_RECORD_BYTES,
  type ReceivedAdvertisements,
  type ReceivedShares,
  type RelayStage,
  type RevealedShare,
  readAdvertisements,
  readIncomingShares,
  readRevealedShares,
  readSealedShares,
  revealedShareRecords,
  SECRET_BYTES,
  type SealedShare,
  type SealedShares,
  type SecaggSetup,
  SHARE_CIPHERTEXT_BYTES,
  SHARE_PLAINTEXT_BYTES,
  SHARE_RECORD_BYTES,
  type ShareKind,
  type SharePlaintext,
  SIGNATURE_BYTES,
  type SignedKeys,
  type Stage,
  type StageHeader,
  sealedShareRecords,
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
  type Blame,
  type RoundBlame,
  type SecaggOutcome,
  SecaggServer,
  type SecaggServerOptions,
  type ServerStage,
  type StageOutcome,
} from './server.ts'
export { type Share, shamirCombine, shamirSplit } from './shamir.ts'
export { type TranscriptLabel, transcript } from './transcript.ts'
export { type CurveSubtle, webCryptoVerifyEach, webCryptoX25519Each } from './webcrypto-curves.ts'
export { isSmallOrderX25519 } from './x25519-strict.ts'
