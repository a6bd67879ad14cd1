import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseTaskFile, type StageTiming } from '@fedtune/coordinator'
import { startCoordinator } from '@fedtune/coordinator/start'
import { initBackend, readBackboneFolder } from '@fedtune/model/node'
import { nodeCrypto } from '@fedtune/protocol/node'
import {
  benchName,
  benchSeed,
  type CoordinatorConfig,
  type CoordinatorReport,
  type RoundReport,
  type StageReport,
} from './load-messages.ts'

/**
 * bench:load's coordinator: the real one (`startCoordinator`, as `fedtune coordinator` runs it) in
 * a process of its own, measuring itself through its RoundObserver and reporting to bench/load.ts
 * over IPC. Its CPU time is the whole process's (the mask threads included); event-loop delay is
 * its main thread's.
 */

const BACKBONE = fileURLToPath(new URL('../../shared/backbones/mobilenet_v2_0.35_224', import.meta.url))
/** 10 labels on the 1280-d embedding, no hidden layer: 1280·10 + 10 = 12,810 parameters. */
const LABELS = Array.from({ length: 10 }, (_, i) => `class-${i}`)

const config = JSON.parse(process.argv[2] ?? '') as CoordinatorConfig
const report = (message: CoordinatorReport) => process.send?.(message)
const gc = (globalThis as { gc?: () => void }).gc

await initBackend()
const { digest } = await readBackboneFolder(BACKBONE)
const work = mkdtempSync(join(tmpdir(), 'fedtune-load-'))
// Idle: more places than will ever connect, so no round starts and everyone stays enrolled, idle.
const places = config.idle ? config.n + 1 : config.n
const task = parseTaskFile(
  {
    name: `load-${config.n}`,
    backbone: { source: BACKBONE, sha256: digest },
    head: { labels: LABELS, seed: 1 },
    training: { rounds: config.rounds },
    participation: {
      // A round waits for all n (the gather window outlasts the bench); dropouts leave it with 90 %.
      minParticipants: Math.max(2, Math.floor(places * 0.8)),
      participantsPerRound: places,
      gatherSeconds: 3600,
      roundDeadlineSeconds: 600,
      joinTimeoutSeconds: 3600,
    },
    aggregation: {
      mode: 'secure',
      expectedDropout: config.dropout,
      neighbours: 41,
      threshold: 21,
      stageDeadlineSeconds: 300,
      // 5,001 places × 100,000 examples would leave the 32-bit sum no fixed-point resolution.
      ...(config.idle ? { maxExamples: 1000 } : {}),
    },
  },
  work,
)

let current: {
  round: number
  startedAt: number
  cpuAtStart: number
  systemAtStart: number
  cpuMark: number
  rssMax: number
  stages: StageReport[]
} | null = null
const cpuMs = () => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}
const systemMs = () => process.cpuUsage().system / 1000
const delay = monitorEventLoopDelay({ resolution: 5 })
const rssSampler = setInterval(() => {
  if (current) current.rssMax = Math.max(current.rssMax, process.memoryUsage.rss())
}, 250)
rssSampler.unref()

const coordinator = await startCoordinator({
  task,
  port: 0,
  host: '127.0.0.1',
  outDir: join(work, 'run'),
  cacheDir: join(work, 'cache'),
  quiet: true,
  // Every bench connection comes from 127.0.0.1: only the per-address cap is raised; the hello
  // timeout and the rate limits stay the defaults a real coordinator runs with.
  limits: { maxConnectionsPerAddress: 10_000 },
  ...(config.readPacingMs === undefined ? {} : { pacing: { turnMs: config.readPacingMs } }),
  print: (line) => process.stdout.write(`${line}\n`),
  observer: {
    roundStarted(round) {
      const cpu = cpuMs()
      current = {
        round,
        startedAt: performance.now(),
        cpuAtStart: cpu,
        systemAtStart: systemMs(),
        cpuMark: cpu,
        rssMax: process.memoryUsage.rss(),
        stages: [],
      }
      delay.reset()
      delay.enable()
    },
    stageRelayed(timing: StageTiming) {
      if (!current || timing.round !== current.round) return
      const cpu = cpuMs()
      process.stdout.write(
        `bench: round ${timing.round} ${timing.stage} relayed at ${Math.round(performance.now() - current.startedAt)} ms, ${timing.heard} of ${timing.of}, CPU ${Math.round(cpu - current.cpuMark)} ms\n`,
      )
      current.stages.push({
        stage: timing.stage,
        heard: timing.heard,
        of: timing.of,
        cpuMs: cpu - current.cpuMark,
        lastInToRelayMs: timing.lastMessageAt === null ? null : timing.relayedAt - timing.lastMessageAt,
      })
      current.cpuMark = cpu
    },
    roundEnded(record) {
      if (!current || record.round !== current.round) return
      const cpu = cpuMs()
      delay.disable()
      const round: RoundReport = {
        round: record.round,
        status: record.status,
        reason: record.reason,
        survivors: record.survivors?.length ?? 0,
        wallMs: performance.now() - current.startedAt,
        cpuMs: cpu - current.cpuAtStart,
        systemCpuMs: systemMs() - current.systemAtStart,
        stages: current.stages,
        resultCpuMs: cpu - current.cpuMark,
        rssMaxBytes: Math.max(current.rssMax, process.memoryUsage.rss()),
        loopDelayP50Ms: delay.percentile(50) / 1e6,
        loopDelayP99Ms: delay.percentile(99) / 1e6,
        loopDelayMaxMs: delay.max / 1e6,
      }
      current = null
      report({ type: 'round', round })
    },
  },
})

const memory = () => {
  gc?.()
  const m = process.memoryUsage()
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed }
}
void coordinator.federation.done.then((f) => report({ type: 'finished', reason: f.reason }))
process.on('message', (raw) => {
  const message = raw as { type: string }
  if (message.type === 'measure')
    report({
      type: 'memory',
      ...memory(),
      online: coordinator.federation.state.online.size,
      sockets: coordinator.io.of('/').sockets.size,
    })
  else if (message.type === 'stop') {
    // The participants are told to leave first; this only closes what remains.
    coordinator.io.disconnectSockets(true)
    void coordinator.close().finally(() => {
      rmSync(work, { recursive: true, force: true })
      process.exit(0)
    })
  }
})
// The task enrols hospitals by approval: the operator's approvals, made before anyone says hello.
for (let index = 0; index < config.n; index++)
  await coordinator.store.participants.enrolOpen({
    task: task.name,
    name: benchName(index),
    kind: 'hospital',
    identityKey: nodeCrypto.ed25519PublicKey(benchSeed(benchName(index))),
  })
report({ type: 'listening', url: coordinator.url, ...memory() })
