import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RoundRecord } from '@fedtune/coordinator'
import type { RunningCoordinator } from '@fedtune/coordinator/start'
import { foldPrior } from '@fedtune/model'
import { decodeWeights, type HeadSpec, paramCount } from '@fedtune/protocol'
import { expect } from 'vitest'
import { unpackModel } from '../model-folder.ts'
import { bearerFor } from '../test-store.ts'

/** GET /api/runs/:id/model?round=n as a viewer, unpacked into `dir`: the model folder a user would get. */
export async function downloadRunModel(c: RunningCoordinator, round: number, dir: string): Promise<string> {
  const zip = await c.app.inject({
    method: 'GET',
    url: `/api/runs/${c.run.id}/model?round=${round}`,
    headers: await bearerFor(c.store, 'viewer'),
  })
  expect(zip.statusCode).toBe(200)
  return unpackModel(new Uint8Array(zip.rawPayload), dir)
}

/** A kept round's raw head from the run folder, its round's prior folded in as the coordinator measures it. */
export function roundHeadAsMeasured(
  c: RunningCoordinator,
  record: RoundRecord,
  spec: HeadSpec,
  dim: number,
): Float32Array {
  const file = join(c.outDir, 'heads', `round-${String(record.round).padStart(4, '0')}.f32`)
  const head = decodeWeights(
    new Uint8Array(readFileSync(file)),
    paramCount(spec, dim),
    `round ${record.round}`,
  )
  return record.prior ? foldPrior(spec, dim, head, record.prior) : head
}
