import { openStore, type Store } from '@fedtune/coordinator/store'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { useEngines } from './engines.ts'
import { refusal } from './refusal.ts'

const engines = useEngines()

/** The store's clock, moved by the tests: every time the store writes comes from here. */
let clock = new Date('2026-03-01T12:00:00.000Z')
const at = (iso: string) => {
  clock = new Date(iso)
}
const key = (byte: number) => new Uint8Array(32).fill(byte)

describe.each(engines)('on $name', (engine) => {
  let store: Store
  beforeAll(async () => {
    store = await openStore(await engine.fresh(), { now: () => clock })
  })
  afterAll(() => store.close())

  describe('operators', () => {
    it('are added, found by name, listed, given a role or a password, and disabled', async () => {
      at('2026-03-01T12:00:00.000Z')
      const ada = await store.operators.add({ name: 'ada', role: 'admin', passwordHash: 'scrypt$ada' })
      expect(ada).toEqual({
        name: 'ada',
        role: 'admin',
        passwordHash: 'scrypt$ada',
        createdAt: '2026-03-01T12:00:00.000Z',
        disabledAt: null,
      })
      await store.operators.add({ name: 'bob', role: 'viewer', passwordHash: 'scrypt$bob' })
      expect(await store.operators.byName('ada')).toEqual(ada)
      expect(await store.operators.byName('nobody')).toBeNull()
      expect((await store.operators.list()).map((o) => o.name)).toEqual(['ada', 'bob'])
      expect((await store.operators.setRole('bob', 'operator')).role).toBe('operator')
      expect((await store.operators.setPassword('bob', 'scrypt$new')).passwordHash).toBe('scrypt$new')
      at('2026-03-01T13:00:00.000Z')
      expect((await store.operators.disable('bob')).disabledAt).toBe('2026-03-01T13:00:00.000Z')
    })

    it('a name taken twice is a conflict; an unknown role is invalid; an unknown operator is not found', async () => {
      await store.operators.add({ name: 'cy', role: 'viewer', passwordHash: 'h' })
      const twice = await refusal(
        store.operators.add({ name: 'cy', role: 'admin', passwordHash: 'h2' }),
        'conflict',
      )
      expect(twice.message).toContain('adding operator "cy"')
      await refusal(
        store.operators.add({ name: 'dee', role: 'root' as 'admin', passwordHash: 'h' }),
        'invalid',
      )
      await refusal(store.operators.add({ name: '', role: 'admin', passwordHash: 'h' }), 'invalid')
      await refusal(store.operators.setRole('nobody', 'admin'), 'not-found')
      await refusal(store.operators.disable('nobody'), 'not-found')
    })
  })

  describe('sessions and API tokens', () => {
    it('a session is active until it expires or is revoked; only hashes are kept', async () => {
      at('2026-03-02T10:00:00.000Z')
      await store.operators.add({ name: 'eve', role: 'operator', passwordHash: 'h' })
      const session = await store.sessions.create({
        tokenHash: 'sha256:eve-1',
        operator: 'eve',
        csrfHash: 'sha256:csrf-1',
        expiresAt: '2026-03-02T18:00:00.000Z',
        address: '10.0.0.7',
      })
      expect(session).toEqual({
        tokenHash: 'sha256:eve-1',
        operator: 'eve',
        csrfHash: 'sha256:csrf-1',
        createdAt: '2026-03-02T10:00:00.000Z',
        expiresAt: '2026-03-02T18:00:00.000Z',
        revokedAt: null,
        address: '10.0.0.7',
      })
      expect(await store.sessions.byTokenHash('sha256:eve-1')).toEqual(session)
      expect(await store.sessions.active('sha256:eve-1')).toMatchObject({
        session,
        operator: { name: 'eve', role: 'operator' },
      })
      at('2026-03-02T18:00:00.000Z')
      expect(await store.sessions.active('sha256:eve-1')).toBeNull()
      at('2026-03-02T11:00:00.000Z')
      expect(await store.sessions.revoke('sha256:eve-1')).toBe(true)
      expect(await store.sessions.revoke('sha256:eve-1')).toBe(false)
      expect(await store.sessions.active('sha256:eve-1')).toBeNull()
      expect((await store.sessions.list('eve')).map((s) => s.revokedAt)).toEqual(['2026-03-02T11:00:00.000Z'])
    })

    it('a session for an unknown operator is refused as not found; a token hash stored twice as a conflict', async () => {
      const s = { csrfHash: 'c', expiresAt: '2027-01-01T00:00:00.000Z', address: null }
      await refusal(store.sessions.create({ ...s, tokenHash: 'x', operator: 'nobody' }), 'not-found')
      await store.operators.add({ name: 'fay', role: 'viewer', passwordHash: 'h' })
      await store.sessions.create({ ...s, tokenHash: 'fay-1', operator: 'fay' })
      await refusal(store.sessions.create({ ...s, tokenHash: 'fay-1', operator: 'fay' }), 'conflict')
      await refusal(
        store.sessions.create({ ...s, tokenHash: 'fay-2', operator: 'fay', expiresAt: '2020-01-01' }),
        'invalid',
      )
    })

    it('an API token is used (its last use recorded) until revoked', async () => {
      await store.operators.add({ name: 'gus', role: 'operator', passwordHash: 'h' })
      at('2026-03-03T09:00:00.000Z')
      const token = await store.tokens.add({
        operator: 'gus',
        label: 'nightly script',
        tokenHash: 'sha256:gus-t',
      })
      expect(token).toMatchObject({
        operator: 'gus',
        label: 'nightly script',
        revokedAt: null,
        lastUsedAt: null,
      })
      at('2026-03-03T09:30:00.000Z')
      const used = await store.tokens.use('sha256:gus-t')
      expect(used?.token.lastUsedAt).toBe('2026-03-03T09:30:00.000Z')
      expect(used?.operator.name).toBe('gus')
      expect(await store.tokens.byId(token.id)).toMatchObject({ lastUsedAt: '2026-03-03T09:30:00.000Z' })
      expect((await store.tokens.list('gus')).map((t) => t.id)).toEqual([token.id])
      expect((await store.tokens.list()).some((t) => t.id === token.id)).toBe(true)
      expect((await store.tokens.revoke(token.id)).revokedAt).toBe('2026-03-03T09:30:00.000Z')
      expect(await store.tokens.use('sha256:gus-t')).toBeNull()
      expect(await store.tokens.use('sha256:unknown')).toBeNull()
      // A revoked token is still found by its hash (to say it was revoked); one never issued is not.
      expect(await store.tokens.byHash('sha256:gus-t')).toMatchObject({
        id: token.id,
        revokedAt: '2026-03-03T09:30:00.000Z',
      })
      expect(await store.tokens.byHash('sha256:unknown')).toBeNull()
      await refusal(store.tokens.revoke(999_999), 'not-found')
      await refusal(
        store.tokens.add({ operator: 'gus', label: 'again', tokenHash: 'sha256:gus-t' }),
        'conflict',
      )
    })

    it('disabling an operator revokes its sessions and tokens at once', async () => {
      await store.operators.add({ name: 'hal', role: 'admin', passwordHash: 'h' })
      await store.sessions.create({
        tokenHash: 'hal-s',
        operator: 'hal',
        csrfHash: 'c',
        expiresAt: '2027-01-01',
        address: null,
      })
      const token = await store.tokens.add({ operator: 'hal', label: 'ci', tokenHash: 'hal-t' })
      at('2026-03-04T00:00:00.000Z')
      await store.operators.disable('hal')
      expect(await store.sessions.active('hal-s')).toBeNull()
      expect((await store.sessions.byTokenHash('hal-s'))?.revokedAt).toBe('2026-03-04T00:00:00.000Z')
      expect(await store.tokens.use('hal-t')).toBeNull()
      expect((await store.tokens.byId(token.id))?.revokedAt).toBe('2026-03-04T00:00:00.000Z')
    })
  })

  describe('tasks, runs and rounds', () => {
    const file = { name: 'retina', head: { inputSize: 1280, classes: [0, 1, 2] }, rounds: 5, note: 'ünïcödé' }

    it('a task file is kept as submitted; a name taken twice is a conflict', async () => {
      at('2026-03-05T08:00:00.000Z')
      const task = await store.tasks.submit({ name: 'retina', file, submittedBy: 'ada' })
      expect(task).toEqual({
        name: 'retina',
        file,
        submittedBy: 'ada',
        submittedAt: '2026-03-05T08:00:00.000Z',
      })
      expect(await store.tasks.get('retina')).toEqual(task)
      expect(await store.tasks.get('nope')).toBeNull()
      expect((await store.tasks.list()).map((t) => t.name)).toContain('retina')
      await refusal(store.tasks.submit({ name: 'retina', file: {}, submittedBy: 'ada' }), 'conflict')
    })

    it('a run keeps its full settings and moves through its states; once over it never changes again', async () => {
      await store.tasks.submit({ name: 'runs-task', file, submittedBy: 'system' })
      const settings = { ...file, learningRate: 0.01, seed: 7, rounds: [1, 2, 3] }
      at('2026-03-05T09:00:00.000Z')
      const run = await store.runs.create({ task: 'runs-task', settings })
      expect(run).toMatchObject({
        task: 'runs-task',
        settings,
        state: 'preparing',
        reason: null,
        pauseRequested: false,
        folder: null,
      })
      expect(run.createdAt).toBe('2026-03-05T09:00:00.000Z')
      // where it keeps its heads, once it prepares; a run that does not exist is not-found
      expect((await store.runs.setFolder(run.id, '/data/runs/runs-task-1')).folder).toBe(
        '/data/runs/runs-task-1',
      )
      await refusal(store.runs.setFolder(999_999, '/x'), 'not-found')
      await refusal(store.runs.setFolder(run.id, ''), 'invalid')
      expect(await store.runs.get(run.id)).toEqual({ ...run, folder: '/data/runs/runs-task-1' })
      expect(await store.runs.get(999_999)).toBeNull()
      at('2026-03-05T09:01:00.000Z')
      expect((await store.runs.setState(run.id, 'waiting')).state).toBe('waiting')
      at('2026-03-05T09:02:00.000Z')
      const running = await store.runs.setState(run.id, 'running')
      expect(running.startedAt).toBe('2026-03-05T09:02:00.000Z')
      expect((await store.runs.requestPause(run.id, true)).pauseRequested).toBe(true)
      const paused = await store.runs.setState(run.id, 'paused', 'paused by ada')
      expect(paused).toMatchObject({ state: 'paused', reason: 'paused by ada', pauseRequested: false })
      at('2026-03-05T09:03:00.000Z')
      expect((await store.runs.setState(run.id, 'running')).startedAt).toBe('2026-03-05T09:02:00.000Z')
      expect(await store.runs.unfinished()).toContainEqual(expect.objectContaining({ id: run.id }))
      at('2026-03-05T10:00:00.000Z')
      const done = await store.runs.setState(run.id, 'finished', 'all 5 rounds done')
      expect(done).toMatchObject({ state: 'finished', endedAt: '2026-03-05T10:00:00.000Z' })
      const late = await refusal(store.runs.setState(run.id, 'running'), 'wrong-state')
      expect(late.message).toContain(`run ${run.id}: the run is already finished`)
      await refusal(store.runs.requestPause(run.id, true), 'wrong-state')
      await refusal(store.runs.setState(999_999, 'running'), 'not-found')
      expect(await store.runs.unfinished()).not.toContainEqual(expect.objectContaining({ id: run.id }))
      const second = await store.runs.create({ task: 'runs-task', settings })
      await refusal(store.runs.setState(second.id, 'exploded' as 'failed'), 'invalid')
      expect((await store.runs.list({ task: 'runs-task' })).map((r) => r.id)).toEqual([run.id, second.id])
      expect((await store.runs.list()).length).toBeGreaterThanOrEqual(2)
      await refusal(store.runs.create({ task: 'no-such-task', settings }), 'not-found')
    })

    it('rounds are committed whole, in sequence, once each, and come back unchanged', async () => {
      await store.tasks.submit({ name: 'rounds-task', file, submittedBy: 'system' })
      const run = await store.runs.create({ task: 'rounds-task', settings: file })
      expect(await store.rounds.last(run.id)).toBeNull()
      const record = (round: number, status: 'aggregated' | 'failed' = 'aggregated') => ({
        round,
        status,
        reason: status === 'failed' ? 'too few survivors' : null,
        selected: ['a', 'b'],
        test: { accuracy: 0.5 + round / 100, auc: null, examples: 40 },
        labelCounts: [3, 0, 7],
        nested: { deep: [{ x: 1.25 }] },
      })
      at('2026-03-06T00:00:01.000Z')
      const first = await store.rounds.commit(run.id, record(1), 'heads/0001.f32')
      expect(first).toEqual({
        run: run.id,
        round: 1,
        status: 'aggregated',
        record: record(1),
        headFile: 'heads/0001.f32',
        committedAt: '2026-03-06T00:00:01.000Z',
      })
      await store.rounds.commit(run.id, record(2, 'failed'), null)
      await store.rounds.commit(run.id, record(3), 'heads/0003.f32')
      expect((await store.rounds.list(run.id)).map((r) => [r.round, r.status, r.headFile])).toEqual([
        [1, 'aggregated', 'heads/0001.f32'],
        [2, 'failed', null],
        [3, 'aggregated', 'heads/0003.f32'],
      ])
      expect((await store.rounds.last(run.id))?.record).toEqual(record(3))
      expect((await store.rounds.get(run.id, 2))?.record).toEqual(record(2, 'failed'))
      expect(await store.rounds.get(run.id, 9)).toBeNull()

      const twice = await refusal(store.rounds.commit(run.id, record(3), null), 'conflict')
      expect(twice.message).toContain(`committing round 3 of run ${run.id}`)
      const gap = await refusal(store.rounds.commit(run.id, record(5), null), 'invalid')
      expect(gap.message).toContain('out of sequence: the last committed round is 3')
      await refusal(store.rounds.commit(999_999, record(1), null), 'not-found')
      expect((await store.rounds.list(run.id)).length).toBe(3)
    })
  })

  describe('participants and invites', () => {
    beforeAll(async () => {
      await store.tasks.submit({ name: 'enrol', file: {}, submittedBy: 'ada' })
    })

    it('a hello waits, pending, until an operator approves it; then it can be excluded, re-admitted and revoked', async () => {
      at('2026-03-07T10:00:00.000Z')
      const p = await store.participants.request({
        task: 'enrol',
        name: 'st-olav',
        kind: 'hospital',
        identityKey: key(1),
      })
      expect(p).toEqual({
        task: 'enrol',
        name: 'st-olav',
        kind: 'hospital',
        identityKey: key(1),
        state: 'pending',
        enrolledVia: 'approval',
        createdAt: '2026-03-07T10:00:00.000Z',
        decidedBy: null,
        decidedAt: null,
        reason: null,
      })
      expect(p.identityKey).toBeInstanceOf(Uint8Array)
      at('2026-03-07T10:05:00.000Z')
      expect(await store.participants.approve('enrol', 'st-olav', 'ada')).toMatchObject({
        state: 'approved',
        decidedBy: 'ada',
        decidedAt: '2026-03-07T10:05:00.000Z',
      })
      const twice = await refusal(store.participants.approve('enrol', 'st-olav', 'ada'), 'wrong-state')
      expect(twice.message).toBe(
        'participant "st-olav" in task "enrol" is approved; to become approved it must be pending',
      )
      expect(
        await store.participants.exclude('enrol', 'st-olav', 'system', 'named the culprit in round 4'),
      ).toMatchObject({
        state: 'excluded',
        decidedBy: 'system',
        reason: 'named the culprit in round 4',
      })
      expect((await store.participants.readmit('enrol', 'st-olav', 'ada')).state).toBe('approved')
      expect(await store.participants.revoke('enrol', 'st-olav', 'ada', 'left the study')).toMatchObject({
        state: 'revoked',
        reason: 'left the study',
      })
      await refusal(store.participants.exclude('enrol', 'st-olav', 'system', 'again'), 'wrong-state')
      await refusal(store.participants.approve('enrol', 'nobody', 'ada'), 'not-found')
      expect((await store.participants.byKey('enrol', key(1)))?.name).toBe('st-olav')
      expect((await store.participants.byName('enrol', 'st-olav'))?.state).toBe('revoked')
      expect(await store.participants.byName('enrol', 'nobody')).toBeNull()
      expect(await store.participants.byKey('enrol', key(99))).toBeNull()
    })

    it('one name and one identity key per task: a second claim of either is a conflict; another task is free', async () => {
      await store.participants.request({
        task: 'enrol',
        name: 'haukeland',
        kind: 'hospital',
        identityKey: key(2),
      })
      const sameName = await refusal(
        store.participants.request({
          task: 'enrol',
          name: 'haukeland',
          kind: 'hospital',
          identityKey: key(3),
        }),
        'conflict',
      )
      expect(sameName.message).toContain('enrolling "haukeland" in task "enrol"')
      await refusal(
        store.participants.enrolOpen({
          task: 'enrol',
          name: 'impostor',
          kind: 'browser',
          identityKey: key(2),
        }),
        'conflict',
      )
      await store.tasks.submit({ name: 'enrol-2', file: {}, submittedBy: 'ada' })
      expect(
        (
          await store.participants.request({
            task: 'enrol-2',
            name: 'haukeland',
            kind: 'hospital',
            identityKey: key(2),
          })
        ).task,
      ).toBe('enrol-2')
      await refusal(
        store.participants.request({ task: 'no-task', name: 'x', kind: 'hospital', identityKey: key(4) }),
        'not-found',
      )
      await refusal(
        store.participants.request({
          task: 'enrol',
          name: 'x',
          kind: 'robot' as 'browser',
          identityKey: key(5),
        }),
        'invalid',
      )
    })

    it('open enrolment approves at once; participants are listed and counted by task, state and kind', async () => {
      await store.tasks.submit({ name: 'volunteers', file: {}, submittedBy: 'ada' })
      at('2026-03-08T00:00:00.000Z')
      const v1 = await store.participants.enrolOpen({
        task: 'volunteers',
        name: 'v1',
        kind: 'browser',
        identityKey: key(10),
      })
      expect(v1).toMatchObject({
        state: 'approved',
        enrolledVia: 'open',
        decidedAt: '2026-03-08T00:00:00.000Z',
      })
      at('2026-03-08T00:00:01.000Z')
      await store.participants.enrolOpen({
        task: 'volunteers',
        name: 'v2',
        kind: 'browser',
        identityKey: key(11),
      })
      at('2026-03-08T00:00:02.000Z')
      await store.participants.request({
        task: 'volunteers',
        name: 'h1',
        kind: 'hospital',
        identityKey: key(12),
      })
      expect(await store.participants.count('volunteers', 'browser')).toBe(2)
      expect(await store.participants.count('volunteers', 'hospital')).toBe(1)
      expect((await store.participants.byTask('volunteers')).map((p) => p.name)).toEqual(['v1', 'v2', 'h1'])
      expect(
        (await store.participants.byTask('volunteers', { state: 'pending' })).map((p) => p.name),
      ).toEqual(['h1'])
    })

    it('an invite is redeemed once, before it expires, by its name only; redeeming enrols the participant', async () => {
      at('2026-03-09T08:00:00.000Z')
      const invite = await store.invites.issue({
        task: 'enrol',
        participant: 'rikshospitalet',
        codeHash: 'sha256:code-1',
        createdBy: 'ada',
        expiresAt: '2026-03-16T08:00:00.000Z',
      })
      expect(invite).toEqual({
        codeHash: 'sha256:code-1',
        task: 'enrol',
        participant: 'rikshospitalet',
        createdBy: 'ada',
        createdAt: '2026-03-09T08:00:00.000Z',
        expiresAt: '2026-03-16T08:00:00.000Z',
        usedAt: null,
      })
      const presented = {
        task: 'enrol',
        name: 'rikshospitalet',
        kind: 'hospital' as const,
        identityKey: key(20),
      }
      const wrongName = await refusal(
        store.invites.redeem({ ...presented, name: 'other', codeHash: 'sha256:code-1' }),
        'not-found',
      )
      expect(wrongName.message).toContain('no invite with this code for this name')
      await refusal(store.invites.redeem({ ...presented, codeHash: 'sha256:wrong' }), 'not-found')

      at('2026-03-10T08:00:00.000Z')
      const { invite: used, participant } = await store.invites.redeem({
        ...presented,
        codeHash: 'sha256:code-1',
      })
      expect(used.usedAt).toBe('2026-03-10T08:00:00.000Z')
      expect(participant).toMatchObject({ state: 'approved', enrolledVia: 'invite', decidedBy: 'ada' })
      const again = await refusal(store.invites.redeem({ ...presented, codeHash: 'sha256:code-1' }), 'used')
      expect(again.message).toContain('the code was already used at 2026-03-10T08:00:00.000Z')
      expect((await store.invites.list('enrol')).map((i) => i.usedAt)).toEqual(['2026-03-10T08:00:00.000Z'])
    })

    it('an expired invite is refused; an invite whose name or key is taken stays unused', async () => {
      at('2026-03-09T08:00:00.000Z')
      const expires = '2026-03-09T09:00:00.000Z'
      await store.invites.issue({
        task: 'enrol',
        participant: 'late',
        codeHash: 'c-late',
        createdBy: 'ada',
        expiresAt: expires,
      })
      at(expires)
      const late = await refusal(
        store.invites.redeem({
          task: 'enrol',
          name: 'late',
          kind: 'hospital',
          identityKey: key(30),
          codeHash: 'c-late',
        }),
        'expired',
      )
      expect(late.message).toContain('the code expired at 2026-03-09T09:00:00.000Z')
      expect(await store.participants.byName('enrol', 'late')).toBeNull()

      await store.invites.issue({
        task: 'enrol',
        participant: 'dup-key',
        codeHash: 'c-dup',
        createdBy: 'ada',
        expiresAt: '2027-01-01',
      })
      await refusal(
        store.invites.redeem({
          task: 'enrol',
          name: 'dup-key',
          kind: 'hospital',
          identityKey: key(2),
          codeHash: 'c-dup',
        }),
        'conflict',
      )
      expect((await store.invites.list('enrol')).find((i) => i.codeHash === 'c-dup')?.usedAt).toBeNull()
      await refusal(
        store.invites.issue({
          task: 'enrol',
          participant: 'x',
          codeHash: 'c-dup',
          createdBy: 'ada',
          expiresAt: '2027-01-01',
        }),
        'conflict',
      )
      await refusal(
        store.invites.issue({
          task: 'no-task',
          participant: 'x',
          codeHash: 'c-new',
          createdBy: 'ada',
          expiresAt: '2027-01-01',
        }),
        'not-found',
      )
    })

    it('two presentations of one code at once enrol one participant; the other is told the code is used', async () => {
      at('2026-03-11T00:00:00.000Z')
      await store.invites.issue({
        task: 'enrol',
        participant: 'race',
        codeHash: 'c-race',
        createdBy: 'ada',
        expiresAt: '2027-01-01',
      })
      const present = (b: number) =>
        store.invites
          .redeem({ task: 'enrol', name: 'race', kind: 'hospital', identityKey: key(b), codeHash: 'c-race' })
          .then(
            () => 'enrolled',
            (e: { code?: string }) => e.code,
          )
      expect((await Promise.all([present(40), present(41)])).sort()).toEqual(['enrolled', 'used'])
    })
  })

  describe('transactions', () => {
    it('what a transaction does commits together, or, when it throws, not at all', async () => {
      await store.tasks.submit({ name: 'tx-task', file: {}, submittedBy: 'system' })
      const run = await store.runs.create({ task: 'tx-task', settings: {} })
      const round = (n: number) => ({ round: n, status: 'aggregated' as const })
      await store.transaction(async (tx) => {
        await tx.rounds.commit(run.id, round(1), null)
        await tx.runs.setState(run.id, 'running')
        await tx.audit.append({ actor: 'system', action: 'round.commit', run: run.id, outcome: 'ok' })
      })
      expect((await store.rounds.last(run.id))?.round).toBe(1)
      const failed = store.transaction(async (tx) => {
        await tx.rounds.commit(run.id, round(2), null)
        await tx.audit.append({ actor: 'system', action: 'round.commit', run: run.id, outcome: 'ok' })
        await tx.runs.setState(run.id, 'finished')
        await tx.rounds.commit(run.id, round(2), null)
      })
      await refusal(failed, 'conflict')
      expect((await store.rounds.last(run.id))?.round).toBe(1)
      expect((await store.runs.get(run.id))?.state).toBe('running')
      expect((await store.audit.list({ run: run.id })).length).toBe(1)
    })

    it('a repository that uses a transaction of its own joins the outer one', async () => {
      await store.operators.add({ name: 'ivy', role: 'viewer', passwordHash: 'h' })
      await refusal(
        store.transaction(async (tx) => {
          await tx.operators.disable('ivy')
          await tx.operators.add({ name: 'ivy', role: 'viewer', passwordHash: 'h' })
        }),
        'conflict',
      )
      expect((await store.operators.byName('ivy'))?.disabledAt).toBeNull()
    })
  })

  describe('the audit log', () => {
    it('appends entries and lists them in order, filtered by run, task, actor and action, a page at a time', async () => {
      at('2026-03-12T00:00:00.000Z')
      const first = await store.audit.append({
        actor: 'ada',
        address: '10.0.0.1',
        action: 'sign-in',
        outcome: 'ok',
      })
      expect(first).toMatchObject({
        actor: 'ada',
        address: '10.0.0.1',
        action: 'sign-in',
        target: null,
        task: null,
        run: null,
        outcome: 'ok',
        detail: {},
        at: '2026-03-12T00:00:00.000Z',
      })
      expect(typeof first.id).toBe('number')
      await store.audit.append({
        actor: 'mallory',
        address: '10.6.6.6',
        action: 'sign-in',
        outcome: 'refused',
        detail: { why: 'wrong password' },
      })
      await store.audit.append({
        actor: 'ada',
        action: 'run.start',
        task: 'enrol',
        run: 77,
        target: 'run 77',
        outcome: 'ok',
      })
      await store.audit.append({
        actor: 'system',
        action: 'run.state',
        task: 'enrol',
        run: 77,
        outcome: 'ok',
        detail: { to: 'running' },
      })
      const mine = await store.audit.list({ after: first.id - 1 })
      expect(mine.map((e) => `${e.actor} ${e.action} ${e.outcome}`)).toEqual([
        'ada sign-in ok',
        'mallory sign-in refused',
        'ada run.start ok',
        'system run.state ok',
      ])
      expect(mine[1]?.detail).toEqual({ why: 'wrong password' })
      expect((await store.audit.list({ run: 77 })).map((e) => e.action)).toEqual(['run.start', 'run.state'])
      expect((await store.audit.list({ task: 'enrol', actor: 'system' })).map((e) => e.action)).toEqual([
        'run.state',
      ])
      expect(
        (await store.audit.list({ action: 'sign-in', after: first.id - 1 })).map((e) => e.actor),
      ).toEqual(['ada', 'mallory'])
      const page = await store.audit.list({ after: first.id - 1, limit: 2 })
      expect(page.map((e) => e.id)).toEqual([first.id, first.id + 1])
      const next = await store.audit.list({ after: page.at(-1)?.id ?? 0, limit: 2 })
      expect(next.map((e) => e.actor)).toEqual(['ada', 'system'])
      const newest = await store.audit.list({ after: first.id - 1, newestFirst: true, limit: 3 })
      expect(newest.map((e) => e.action)).toEqual(['run.state', 'run.start', 'sign-in'])
      const older = await store.audit.list({
        after: first.id - 1,
        before: newest.at(-1)?.id ?? 0,
        newestFirst: true,
      })
      expect(older.map((e) => e.id)).toEqual([first.id])
      await expect(store.audit.list({ limit: 0 })).rejects.toThrow('expected a limit from 1 to 1000, got 0')
      await refusal(store.audit.append({ actor: 'ada', action: 'x', outcome: 'maybe' as 'ok' }), 'invalid')
    })

    it('the database itself refuses to update, delete or truncate an audit row', async () => {
      const entry = await store.audit.append({
        actor: 'ada',
        action: 'operator.add',
        target: 'zed',
        outcome: 'ok',
      })
      const tries = [
        ['update audit set outcome = $1 where id = $2', ['failed', entry.id]],
        ['delete from audit where id = $1', [entry.id]],
        ['delete from audit', []],
        ['truncate audit', []],
      ] as const
      for (const [statement, params] of tries) {
        const error = await store.sql.query(statement, params).then(
          () => null,
          (e: { code?: string; message?: string }) => e,
        )
        expect(error?.code, statement).toBe('FT001')
        expect(error?.message, statement).toMatch(
          /the audit log is append-only: (UPDATE|DELETE|TRUNCATE) refused/,
        )
      }
      const still = await store.audit.list({ after: entry.id - 1, limit: 1 })
      expect(still).toEqual([entry])
    })
  })
})
