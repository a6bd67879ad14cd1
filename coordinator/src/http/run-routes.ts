import { readFile } from 'node:fs/promises'
import { TASK_NAME } from '@fedtune/protocol'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { keptRoundEvaluation } from '../console/round-evaluation.ts'
import { readInputCentre } from '../host/run-input-centre.ts'
import { HostError, type RunAction, type TaskHost } from '../host/task-host.ts'
import { auditRequest } from '../operators/operators-context.ts'
import { OPERATOR_BODY_LIMIT, parseWith } from '../operators/request-body.ts'
import { signedInOf } from '../operators/signed-in.ts'
import { privacyAtSubmit } from '../privacy/privacy-settings-for.ts'
import type { RoundRecord } from '../rounds/round-log.ts'
import type { Run, Store } from '../store/index.ts'
import { headFile, serverStateFile } from '../store/run-folder.ts'
import { parseTaskFile, TaskFileError } from '../tasks/task-file.ts'
import { modelRoutes } from './model-routes.ts'
import { roundHead } from './round-head.ts'

/** The largest task file the API takes: a task file is settings, not data. */
export const TASK_FILE_BODY_LIMIT = 256 * 1024

const TaskParams = z.strictObject({ task: z.string().regex(TASK_NAME, 'expected a task name') })
const RunParams = z.strictObject({ id: z.string().regex(/^[1-9][0-9]{0,9}$/, 'expected a run number') })
const HeadParams = z.strictObject({
  id: z.string().regex(/^[1-9][0-9]{0,9}$/, 'expected a run number'),
  round: z.string().regex(/^(0|[1-9][0-9]{0,6})$/, 'expected a round number'),
})
const Reason = z.strictObject({ reason: z.string().max(500).optional() }).optional()
const Extend = z.strictObject({
  seconds: z
    .number()
    .positive()
    .max(7 * 24 * 3600),
  reason: z.string().max(500).optional(),
})

/** What the API shows of a run: its state and settings, never anything of a participant's data. */
export function runView(run: Run) {
  return {
    id: run.id,
    task: run.task,
    state: run.state,
    reason: run.reason,
    pauseRequested: run.pauseRequested,
    createdAt: run.createdAt,
    startedAt: run.startedAt,
    endedAt: run.endedAt,
  }
}

/**
 * Operators run tasks: they submit task files, start runs, pause one after its current round,
 * resume, stop, abort the current round or extend its deadline, and read any run's rounds and heads
 * (what `fedtune run export` writes out). Every action is audited, refused ones too.
 */
export function runRoutes(app: FastifyInstance, store: Store, host: TaskHost, baseDir: string): void {
  const bad = (reply: FastifyReply, message: string) =>
    reply.code(400).send({ error: 'bad-request', message })

  app.post(
    '/api/tasks',
    { config: { access: 'operator' }, bodyLimit: TASK_FILE_BODY_LIMIT },
    async (request, reply) => {
      const who = signedInOf(request).operator.name
      let file: ReturnType<typeof parseTaskFile>
      try {
        // relative paths in a submitted file are the coordinator's, from its working folder
        file = parseTaskFile(request.body, baseDir, 'task file')
        // an impossible budget is refused now, not when a run of it starts (of unit "participant",
        // what needs the head's size is checked when its run loads the backbone)
        const privacy = file.privacy
        if (privacy) {
          const found = privacyAtSubmit({ ...file, privacy })
          if (!found.ok) throw new TaskFileError('task file', found.problems)
        }
      } catch (error) {
        if (!(error instanceof TaskFileError)) throw error
        await auditRequest({ store }, request, {
          actor: who,
          action: 'task.submit',
          outcome: 'refused',
          detail: { problems: error.problems.length },
        })
        return reply
          .code(400)
          .send({ error: 'invalid-task', message: error.message, problems: error.problems })
      }
      try {
        const outcome = await host.submit(file, who)
        await auditRequest({ store }, request, {
          actor: who,
          action: 'task.submit',
          outcome: 'ok',
          task: file.name,
          detail: { outcome },
        })
        return reply.code(outcome === 'created' ? 201 : 200).send({ task: file.name, outcome })
      } catch (error) {
        return refused(request, reply, error, { actor: who, action: 'task.submit', task: file.name })
      }
    },
  )

  app.get('/api/tasks/:task', { config: { access: 'viewer' } }, async (request, reply) => {
    const params = parseWith(TaskParams, request.params, 'expected /api/tasks/<task>')
    if (!params.ok) return bad(reply, params.message)
    const { task } = params.value
    const stored = await store.tasks.get(task)
    if (stored === null)
      return reply.code(404).send({ error: 'not-found', message: `expected a submitted task, got "${task}"` })
    const runs = await store.runs.list({ task })
    return {
      name: stored.name,
      submittedBy: stored.submittedBy,
      submittedAt: stored.submittedAt,
      file: stored.file,
      listing: host.list().find((t) => t.name === task) ?? null,
      runs: runs.map(runView),
    }
  })

  app.post(
    '/api/tasks/:task/start',
    { config: { access: 'operator' }, bodyLimit: OPERATOR_BODY_LIMIT },
    async (request, reply) => {
      const who = signedInOf(request).operator.name
      const params = parseWith(TaskParams, request.params, 'expected /api/tasks/<task>/start')
      if (!params.ok) return bad(reply, params.message)
      const { task } = params.value
      try {
        const run = await host.start(task, who)
        await auditRequest({ store }, request, {
          actor: who,
          action: 'run.start',
          outcome: 'ok',
          task,
          run: run.id,
        })
        return reply.code(202).send(runView(run))
      } catch (error) {
        return refused(request, reply, error, { actor: who, action: 'run.start', task })
      }
    },
  )

  for (const action of ['pause', 'resume', 'stop', 'abort', 'extend'] as const)
    app.post(
      `/api/tasks/:task/${action}`,
      { config: { access: 'operator' }, bodyLimit: OPERATOR_BODY_LIMIT },
      (request, reply) => act(request, reply, action),
    )

  async function act(request: FastifyRequest, reply: FastifyReply, action: RunAction) {
    const who = signedInOf(request).operator.name
    const params = parseWith(TaskParams, request.params, `expected /api/tasks/<task>/${action}`)
    if (!params.ok) return bad(reply, params.message)
    const body =
      action === 'extend'
        ? parseWith(Extend, request.body, 'expected a JSON body { seconds, reason? }')
        : parseWith(Reason, request.body ?? undefined, 'expected an optional JSON body { reason }')
    if (!body.ok) return bad(reply, body.message)
    const { task } = params.value
    try {
      const run = await host.act(task, action, who, body.value ?? {})
      await auditRequest({ store }, request, {
        actor: who,
        action: `run.${action}`,
        outcome: 'ok',
        task,
        run: run.id,
        ...(body.value ? { detail: body.value } : {}),
      })
      return runView(run)
    } catch (error) {
      return refused(request, reply, error, { actor: who, action: `run.${action}`, task })
    }
  }

  async function refused(
    request: FastifyRequest,
    reply: FastifyReply,
    error: unknown,
    entry: { readonly actor: string; readonly action: string; readonly task: string },
  ) {
    if (!(error instanceof HostError)) throw error
    await auditRequest({ store }, request, { ...entry, outcome: 'refused', detail: { code: error.code } })
    return reply
      .code(error.code === 'not-found' ? 404 : error.code === 'invalid' ? 400 : 409)
      .send({ error: error.code, message: error.message })
  }

  app.get('/api/tasks/:task/runs', { config: { access: 'viewer' } }, async (request, reply) => {
    const params = parseWith(TaskParams, request.params, 'expected /api/tasks/<task>/runs')
    if (!params.ok) return bad(reply, params.message)
    const { task } = params.value
    if ((await store.tasks.get(task)) === null)
      return reply.code(404).send({ error: 'not-found', message: `expected a submitted task, got "${task}"` })
    return { runs: (await store.runs.list({ task })).map(runView) }
  })

  app.get('/api/runs', { config: { access: 'viewer' } }, async () => ({
    runs: (await store.runs.list()).map(runView),
  }))

  const runOf = async (request: FastifyRequest, reply: FastifyReply): Promise<Run | undefined> => {
    const params = parseWith(RunParams, request.params, 'expected /api/runs/<run number>')
    if (!params.ok) {
      await bad(reply, params.message)
      return undefined
    }
    const run = await store.runs.get(Number(params.value.id))
    if (run === null) {
      await reply
        .code(404)
        .send({ error: 'not-found', message: `expected a run of this coordinator, got ${params.value.id}` })
      return undefined
    }
    return run
  }

  // A run with its full settings (the task file it started with).
  app.get('/api/runs/:id', { config: { access: 'viewer' } }, async (request, reply) => {
    const run = await runOf(request, reply)
    return run && { ...runView(run), settings: run.settings }
  })

  // Its rounds as kept: what the coordinator learned of each (sums, survivors, timing, metrics), and
  // each aggregated round's evaluation as the console's panel draws it (without its live feed too).
  app.get('/api/runs/:id/rounds', { config: { access: 'viewer' } }, async (request, reply) => {
    const run = await runOf(request, reply)
    if (run === undefined) return reply
    const rounds = await store.rounds.list<RoundRecord>(run.id)
    return {
      run: run.id,
      rounds: rounds.map((r) => ({
        ...r.record,
        committedAt: r.committedAt,
        head: r.headFile !== null,
        evaluation: keptRoundEvaluation(r.record, run.settings),
      })),
    }
  })

  // The global head after a round: round 0 is the initial head, in the run's folder.
  app.get('/api/runs/:id/rounds/:round/head', { config: { access: 'viewer' } }, async (request, reply) => {
    const params = parseWith(HeadParams, request.params, 'expected /api/runs/<run>/rounds/<round>/head')
    if (!params.ok) return bad(reply, params.message)
    const id = Number(params.value.id)
    const round = Number(params.value.round)
    let file: string
    if (round === 0) {
      const run = await store.runs.get(id)
      if (run?.folder == null)
        return reply.code(404).send({
          error: 'not-found',
          message: `run ${id} has no initial head (${run === null ? 'no such run' : 'it never prepared'})`,
        })
      file = headFile(run.folder, 0)
    } else {
      const run = await store.runs.get(id)
      if (run === null)
        return reply
          .code(404)
          .send({ error: 'not-found', message: `expected a run of this coordinator, got ${id}` })
      const kept = await store.rounds.list<RoundRecord>(id)
      const head = roundHead(
        run,
        kept.map((k) => ({ record: k.record, headFile: k.headFile })),
        round,
      )
      if (!head.ok) return reply.code(head.status).send({ error: head.error, message: head.message })
      file = head.kept.headFile as string
    }
    return sendFile(reply, file, `run ${id}'s head after round ${round}`)
  })

  modelRoutes(app, store, host.cacheDir)

  // The run's input centre (head.inputCentre), as its folder keeps it: what its raw heads were trained after.
  app.get('/api/runs/:id/input-centre', { config: { access: 'viewer' } }, async (request, reply) => {
    const params = parseWith(RunParams, request.params, 'expected /api/runs/<run>/input-centre')
    if (!params.ok) return bad(reply, params.message)
    const id = Number(params.value.id)
    const run = await store.runs.get(id)
    const centre = run?.folder == null ? null : await readInputCentre(run.folder)
    if (centre === null)
      return reply.code(404).send({
        error: 'not-found',
        message: `run ${id} has no input centre (${run === null ? 'no such run' : 'its head sees the embeddings as they are'})`,
      })
    return reply.send({ centre: Array.from(centre) })
  })

  // FedAdam's moments after an aggregated round (m then v, float32): what carrying a run on needs.
  app.get(
    '/api/runs/:id/rounds/:round/server-state',
    { config: { access: 'viewer' } },
    async (request, reply) => {
      const params = parseWith(
        HeadParams,
        request.params,
        'expected /api/runs/<run>/rounds/<round>/server-state',
      )
      if (!params.ok) return bad(reply, params.message)
      const id = Number(params.value.id)
      const round = Number(params.value.round)
      const [run, kept] = await Promise.all([store.runs.get(id), store.rounds.get(id, round)])
      if (run?.folder == null || kept === null || kept.headFile === null)
        return reply.code(404).send({
          error: 'not-found',
          message: `run ${id} kept no optimizer state after round ${round} (${run === null ? 'no such run' : kept === null ? 'no such round' : 'no head after it'})`,
        })
      return sendFile(
        reply,
        serverStateFile(run.folder, round),
        `run ${id}'s optimizer state after round ${round}`,
      )
    },
  )
}

/** A run file, or 404 when the run has none (FedAvg keeps no optimizer state), 410 when it was removed. */
async function sendFile(reply: FastifyReply, file: string, what: string) {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    return reply.code(file.endsWith('.adam.f32') ? 404 : 410).send({
      error: file.endsWith('.adam.f32') ? 'not-found' : 'gone',
      message: file.endsWith('.adam.f32')
        ? `${what}: none kept (the run's server optimizer keeps no state)`
        : `${what} was kept in a file that is no longer there; its round's row remains`,
    })
  }
  return reply.type('application/octet-stream').send(bytes)
}
