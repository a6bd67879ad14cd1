import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ClinicalMetrics } from '@fedtune/model'
import { formatEpsilon } from '@fedtune/protocol'
import { headFile, serverStateFile } from '../store/run-folder.ts'
import { roundChart } from './round-chart.ts'
import type { RoundRecord } from './round-record.ts'
import type { ServerState } from './server-optimizer.ts'

export type { RoundRecord } from './round-record.ts'

/**
 * Writes each round's record and the global head after it as soon as the round ends, so a crash
 * loses at most the round in progress. Heads are raw little-endian float32 (`round-0003.f32`);
 * rounds.svg charts the run so far.
 */
export class RoundLog {
  readonly dir: string
  readonly records: RoundRecord[]

  readonly title: string

  constructor(dir: string, records: readonly RoundRecord[] = [], title = 'fedtune run') {
    this.dir = dir
    this.title = title
    this.records = [...records]
    mkdirSync(join(dir, 'heads'), { recursive: true })
  }

  /**
   * The head after `round`, and the server optimizer's moments beside it (`round-0003.adam.f32`, m
   * then v) when it keeps any: FedAdam cannot resume without them. Each file is written whole, then
   * renamed into place; the state goes first, so a head on disk always has its state.
   */
  writeHead(round: number, weights: Float32Array, server: ServerState = null): void {
    if (server) {
      const both = new Float32Array(server.m.length * 2)
      both.set(server.m)
      both.set(server.v, server.m.length)
      writeWhole(serverStateFile(this.dir, round), both)
    }
    writeWhole(headFile(this.dir, round), weights)
  }

  append(record: RoundRecord): void {
    this.records.push(record)
    appendFileSync(join(this.dir, 'rounds.jsonl'), `${JSON.stringify(record)}\n`)
    writeFileSync(join(this.dir, 'rounds.svg'), roundChart(this.records, this.title))
  }
}

function writeWhole(file: string, values: Float32Array): void {
  writeFileSync(`${file}.tmp`, new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
  renameSync(`${file}.tmp`, file)
}

export function formatRecord(r: RoundRecord, rounds: number): string {
  const pct = (v: number | null | undefined) => (v === null || v === undefined ? '  -  ' : v.toFixed(3))
  const head = `round ${r.round}/${rounds}`
  const blame = [
    ...(r.excluded ?? []).map((e) => `  excluded ${e.participant} (complaint by ${e.by}: ${e.reason})`),
    ...(r.disputed ?? []).map((e) => `  disputed ${e.participant} (with ${e.by})`),
  ].join('')
  // a private round's budget: ε spent so far of the target
  const epsilon = r.privacy
    ? `  ε ${formatEpsilon(r.privacy.epsilon)}/${formatEpsilon(r.privacy.target)}`
    : ''
  if (r.status === 'failed') return `${head}  FAILED  ${r.reason ?? ''}${epsilon}${blame}`
  // a private sum counts no examples
  const examples = r.privacy ? '' : `, ${r.examples} examples`
  const who = r.survivors
    ? `securely: ${r.survivors.length} participants${examples}`
    : `in plaintext: ${r.contributions.length} participants${examples}`
  const dropped = r.dropped.length > 0 ? `, dropped: ${r.dropped.join(' ')}` : ''
  const figures = (name: string, m: ClinicalMetrics | null | undefined) =>
    m
      ? `  ${name} ACC ${pct(m.accuracy)} bACC ${pct(m.balancedAccuracy)} AUC ${pct(m.auc)}${m.ordinal ? ` QWK ${pct(m.ordinal.qwk)}` : ''}`
      : ''
  // the best round so far by the validation metric is this one
  const best = r.best?.round === r.round && r.validation ? '  ★ best' : ''
  const global = `${figures('val', r.validation)}${figures('test', r.test)}${best}`
  const p = r.participants
  const participants = p
    ? `  participants' val ACC ${pct(p.accuracy)} BAL ${pct(p.balancedAccuracy)} AUC ${pct(p.auc)} (${p.examples})`
    : ''
  return `${head}  aggregated (${who}${dropped})${global}${participants}${epsilon}  ${(r.durationMs / 1000).toFixed(1)} s${blame}`
}
