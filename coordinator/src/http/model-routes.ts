import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { settingsOf } from '../host/run-rows.ts'
import { parseWith } from '../operators/request-body.ts'
import type { RoundRecord } from '../rounds/round-record.ts'
import type { Store } from '../store/index.ts'
import type { TaskFile } from '../tasks/task-file.ts'
import { ModelArchiveError, modelArchive } from './model-archive.ts'
import { roundHead } from './round-head.ts'

const RunParams = z.strictObject({ id: z.string().regex(/^[1-9][0-9]{0,9}$/, 'expected a run number') })
const ModelQuery = z.strictObject({
  round: z
    .string()
    .regex(/^[1-9][0-9]{0,6}$/, 'expected a round number from 1 (round 0 is the untrained head)')
    .optional(),
})

/**
 * The trained model of a run, ready to use (issue 13, item 2): GET /api/runs/:id/model?round=n (by
 * default the best round by the task's validation metric, else the last aggregated round; the
 * round's prior folded into the head) answers one zip, the folder `fedtune model export` unpacks and
 * `fedtune predict` runs: model.json + weights.bin (backbone and head as one TF.js layers model),
 * model-card.json and README.md. A round without a head says why (round-head.ts).
 */
export function modelRoutes(app: FastifyInstance, store: Store, cacheDir: string): void {
  app.get('/api/runs/:id/model', { config: { access: 'viewer' } }, async (request, reply) => {
    const params = parseWith(RunParams, request.params, 'expected /api/runs/<run number>/model')
    if (!params.ok) return reply.code(400).send({ error: 'bad-request', message: params.message })
    const query = parseWith(ModelQuery, request.query, 'expected /api/runs/<run>/model[?round=<n>]')
    if (!query.ok) return reply.code(400).send({ error: 'bad-request', message: query.message })
    const id = Number(params.value.id)
    const run = await store.runs.get<TaskFile>(id)
    if (run === null)
      return reply
        .code(404)
        .send({ error: 'not-found', message: `expected a run of this coordinator, got ${id}` })
    const kept = await store.rounds.list<RoundRecord>(id)
    const round = query.value.round === undefined ? undefined : Number(query.value.round)
    const head = roundHead(
      run,
      kept.map((k) => ({ record: k.record, headFile: k.headFile })),
      round,
    )
    if (!head.ok) return reply.code(head.status).send({ error: head.error, message: head.message })
    let archive: Awaited<ReturnType<typeof modelArchive>>
    try {
      archive = await modelArchive({
        run,
        // a run kept before backbone.views existed reads as the original alone
        task: settingsOf(run),
        record: head.kept.record,
        chosen: head.chosen,
        records: kept.map((k) => k.record),
        headFile: head.kept.headFile as string,
        cacheDir,
      })
    } catch (error) {
      if (!(error instanceof ModelArchiveError)) throw error
      return reply.code(410).send({ error: 'gone', message: error.message })
    }
    const { bytes, filename } = archive
    return reply
      .type('application/zip')
      .header('content-disposition', `attachment; filename="${filename.replace(/[^A-Za-z0-9._-]/g, '_')}"`)
      .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
  })
}
