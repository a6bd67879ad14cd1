import {
  checkHelloProof,
  HELLO_ACK_WAIT_MS,
  type Hello,
  type HelloOptions,
  type HelloOutcome,
  type HelloSend,
  helloHandshake,
  parseChallenge,
  type TaskInfo,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { describe, expect, it } from 'vitest'

/** A participant's hello, driven with a `send` that stands where the socket's emit is. */
const challenge = { taskId: 'chest-xray', nonce: new Uint8Array(32).fill(7) }
const task: TaskInfo = {
  taskId: 'chest-xray',
  name: 'chest X-rays',
  description: '',
  rounds: 3,
  backbone: {
    digest: 'a'.repeat(64),
    path: `/backbone/${'a'.repeat(64)}/`,
    files: [{ name: 'model.json', sha256: 'b'.repeat(64), bytes: 10 }],
    inputSize: 224,
    embeddingDim: 4,
    views: ['original'],
  },
  head: { layers: [], labels: ['normal', 'pneumonia'] },
  ordinal: false,
  paramCount: 10,
  aggregation: 'secure',
  browsers: { enabled: true, maxPerRound: 1 },
  privacy: null,
  inputCentre: null,
}
const options = (over: Partial<HelloOptions> = {}): HelloOptions => ({
  crypto: nodeCrypto,
  identitySeed: new Uint8Array(32).fill(3),
  participant: 'hospital-a',
  kind: 'hospital',
  agent: 'test',
  allowPlaintext: false,
  joined: undefined,
  ...over,
})
/** Answers every hello with `ack` at once, keeping what was sent. */
const answering = (ack: unknown) => {
  const sent: { hello: Hello; waitMs: number }[] = []
  const send: HelloSend = (hello, waitMs, answer) => {
    sent.push({ hello, waitMs })
    answer(null, ack)
  }
  return { sent, send }
}
/** The handshake's outcome, or undefined when it has not come (yet). */
const handshake = (challengeRaw: unknown, opts: HelloOptions, send: HelloSend) => {
  let outcome: HelloOutcome | undefined
  helloHandshake(challengeRaw, opts, send, (o) => {
    outcome = o
  })
  return outcome
}

describe('the participant’s hello', () => {
  it('signs this connection’s challenge with the identity key and joins a secure task', () => {
    const { sent, send } = answering({ ok: true, task })
    expect(handshake(challenge, options(), send)).toEqual({ type: 'joined', task })
    const [first] = sent
    expect(first?.waitMs).toBe(HELLO_ACK_WAIT_MS)
    expect(first?.hello).toMatchObject({ protocol: 'fedtune/9', participant: 'hospital-a', kind: 'hospital' })
    expect(() => checkHelloProof(nodeCrypto, first?.hello as Hello, parseChallenge(challenge))).not.toThrow()
  })

  it('decides in the acknowledgement’s own call, before the socket runs its next handler (the first round)', () => {
    let answer: ((error: Error | null, ack: unknown) => void) | undefined
    const events: string[] = []
    helloHandshake(
      challenge,
      options(),
      (_, __, a) => {
        answer = a
      },
      (outcome) => events.push(outcome.type),
    )
    expect(events).toEqual([])
    answer?.(null, { ok: true, task })
    events.push('round')
    expect(events).toEqual(['joined', 'round'])
  })

  it('a malformed challenge stops before any hello is sent', () => {
    const { sent, send } = answering({ ok: true, task })
    expect(handshake({ taskId: 'chest-xray', nonce: 'x' }, options(), send)).toEqual({
      type: 'stopped',
      why: 'malformed',
      message:
        'the coordinator opened with a malformed challenge: challenge.nonce: expected 32 bytes, got "x"',
    })
    expect(sent).toEqual([])
  })

  it('no answer in time is no refusal: the next connection says hello again', () => {
    const outcome = handshake(challenge, options(), (_, __, answer) =>
      answer(new Error('operation has timed out'), undefined),
    )
    expect(outcome).toEqual({
      type: 'unanswered',
      message:
        'the coordinator did not answer hello within 30 s (operation has timed out); will retry on reconnect',
    })
  })

  it('a final refusal stops with its reason and code; a malformed ack stops too', () => {
    const refused = answering({ ok: false, code: 'identity-mismatch', reason: 'hospital-a has another key' })
    expect(handshake(challenge, options(), refused.send)).toEqual({
      type: 'stopped',
      why: 'refused',
      code: 'identity-mismatch',
      message: 'the coordinator refused to let us join: hospital-a has another key (identity-mismatch)',
    })
    const malformed = answering({ ok: 'yes' })
    expect(handshake(challenge, options(), malformed.send)).toEqual({
      type: 'stopped',
      why: 'malformed',
      message: 'the coordinator answered hello with hello ack.ok: expected true or false',
    })
  })

  it('a refusal worth retrying says when the participant tries again, the wait doubling with each retry', () => {
    const pending = answering({
      ok: false,
      code: 'pending-approval',
      reason: 'an operator has not approved hospital-a yet',
    })
    expect(handshake(challenge, options({ random: () => 0 }), pending.send)).toEqual({
      type: 'retry',
      code: 'pending-approval',
      afterMs: 1000,
      message:
        'the coordinator did not let us join yet: an operator has not approved hospital-a yet (pending-approval); trying again in 1 s',
    })
    expect(handshake(challenge, options({ retries: 6, random: () => 0 }), pending.send)).toMatchObject({
      type: 'retry',
      afterMs: 60_000,
      message: expect.stringMatching(/trying again in 1 min$/),
    })
    const newer = answering({ ok: false, code: 'from-the-future', reason: 'come back later' })
    expect(handshake(challenge, options({ retries: 2, random: () => 0.5 }), newer.send)).toMatchObject({
      type: 'retry',
      code: 'unknown',
      afterMs: 3000,
    })
  })

  it('an enrolment code travels in the hello, covered by its proof; without one the hello has no invite field', () => {
    const { sent, send } = answering({ ok: true, task })
    handshake(challenge, options({ invite: 'Q3x_9-abcdefGHIJ' }), send)
    handshake(challenge, options(), send)
    const [invited, plain] = sent.map((s) => s.hello) as [Hello, Hello]
    expect(invited.invite).toBe('Q3x_9-abcdefGHIJ')
    expect('invite' in plain).toBe(false)
    const parsed = parseChallenge(challenge)
    expect(() => checkHelloProof(nodeCrypto, invited, parsed)).not.toThrow()
    expect(() => checkHelloProof(nodeCrypto, { ...invited, invite: 'someone-elses-code' }, parsed)).toThrow(
      /hello.proof/,
    )
    const { invite: _, ...stripped } = invited
    expect(() => checkHelloProof(nodeCrypto, stripped, parsed)).toThrow(/hello.proof/)
  })

  it('after a reconnect, another task (another id or another backbone) stops the participant', () => {
    for (const changed of [
      { ...task, taskId: 'other' },
      { ...task, backbone: { ...task.backbone, digest: 'c'.repeat(64) } },
    ]) {
      const outcome = handshake(
        challenge,
        options({ joined: task }),
        answering({ ok: true, task: changed }).send,
      )
      expect(outcome).toMatchObject({ type: 'stopped', why: 'task-changed' })
    }
    const same = handshake(challenge, options({ joined: task }), answering({ ok: true, task }).send)
    expect(same).toEqual({ type: 'joined', task })
  })

  it('after a reconnect, another input centre (a new run, its embeddings centred otherwise) stops the participant', () => {
    const dim = task.backbone.embeddingDim
    const centre = Array.from({ length: dim }, (_, i) => i / 4)
    const moved = centre.map((v, i) => (i === 3 ? v + 0.5 : v))
    for (const [before, after] of [
      [null, centre],
      [centre, null],
      [centre, moved],
    ] as const) {
      const outcome = handshake(
        challenge,
        options({ joined: { ...task, inputCentre: before } }),
        answering({ ok: true, task: { ...task, inputCentre: after } }).send,
      )
      expect(outcome).toMatchObject({
        type: 'stopped',
        why: 'task-changed',
        message: expect.stringContaining("changed its task's input centre"),
      })
    }
    const centred = { ...task, inputCentre: centre }
    expect(
      handshake(challenge, options({ joined: centred }), answering({ ok: true, task: centred }).send),
    ).toMatchObject({ type: 'joined', task: { inputCentre: centre } })
  })

  it('after a reconnect, other image views (a new run, its embeddings averaged otherwise) stop the participant', () => {
    const flips = { ...task, backbone: { ...task.backbone, views: ['original', 'horizontal-flip'] as const } }
    for (const [before, after] of [
      [task, flips],
      [flips, task],
    ] as const) {
      const outcome = handshake(
        challenge,
        options({ joined: before }),
        answering({ ok: true, task: after }).send,
      )
      expect(outcome).toMatchObject({
        type: 'stopped',
        why: 'task-changed',
        message: expect.stringContaining("changed its task's image views"),
      })
    }
    expect(
      handshake(challenge, options({ joined: flips }), answering({ ok: true, task: flips }).send),
    ).toMatchObject({ type: 'joined', task: { backbone: { views: ['original', 'horizontal-flip'] } } })
  })

  it('after a reconnect, other privacy settings (a new run, another promise) stop the participant', () => {
    const example = {
      unit: 'example' as const,
      epsilon: 3,
      delta: 1e-5,
      clipNorm: 1,
      noiseMultiplier: 14.9,
      rounds: 100,
      samplingRate: 1,
      stepsPerRound: 1,
    }
    const participant = {
      unit: 'participant' as const,
      epsilon: 8,
      delta: 1e-5,
      clipNorm: 0.1,
      noiseMultiplier: 0.9,
      rounds: 100,
      minParticipants: 20,
    }
    const private_ = { ...task, privacy: example }
    for (const [before, after] of [
      [null, example],
      [example, null],
      [example, { ...example, epsilon: 8 }],
      [example, { ...example, noiseMultiplier: 10.5 }],
      [example, { ...example, delta: 1e-6 }],
      [example, { ...example, clipNorm: 2 }],
      [example, { ...example, rounds: 200 }],
      [example, { ...example, samplingRate: 0.5, stepsPerRound: 2 }],
      [participant, { ...participant, minParticipants: 10 }],
      [participant, { ...example }],
    ] as const) {
      const outcome = handshake(
        challenge,
        options({ joined: { ...task, privacy: before } }),
        answering({ ok: true, task: { ...task, privacy: after } }).send,
      )
      expect(outcome).toMatchObject({
        type: 'stopped',
        why: 'task-changed',
        message: expect.stringContaining("changed its task's privacy"),
      })
    }
    const outcome = handshake(
      challenge,
      options({ joined: private_ }),
      answering({ ok: true, task: { ...task, privacy: { ...example, epsilon: 8 } } }).send,
    )
    expect(outcome).toMatchObject({
      message: expect.stringContaining(
        'from example-level ε 3, δ 0.00001, C 1, z 14.9, 100 rounds, q 1, 1 steps a round to example-level ε 8,',
      ),
    })
    // the same settings again (a resumed run): it goes on, its budget with it
    expect(
      handshake(
        challenge,
        options({ joined: private_ }),
        answering({ ok: true, task: { ...private_ } }).send,
      ),
    ).toMatchObject({ type: 'joined', task: { privacy: { epsilon: 3 } } })
  })

  it('a plaintext task is refused unless the participant allows it; a volunteer never does', () => {
    const plaintext = { ...task, aggregation: 'plaintext-debug' as const }
    const { send } = answering({ ok: true, task: plaintext })
    expect(handshake(challenge, options(), send)).toEqual({
      type: 'stopped',
      why: 'plaintext',
      message:
        'the coordinator asks for plaintext updates (aggregation "plaintext-debug"): it would see this hospital\'s update in the clear. Refusing',
    })
    expect(handshake(challenge, options({ kind: 'browser' }), send)).toMatchObject({
      why: 'plaintext',
      message: expect.stringContaining("this volunteer's update"),
    })
    expect(handshake(challenge, options({ allowPlaintext: true }), send)).toEqual({
      type: 'joined',
      task: plaintext,
    })
  })
})
