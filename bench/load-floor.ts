import { type ChildProcess, fork } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ReadPacer } from '@fedtune/coordinator'
import { packedParser } from '@fedtune/protocol'
import { Server, type Socket } from 'socket.io'
import { io } from 'socket.io-client'
import { median } from './stats.ts'

const USAGE = `Usage: npm run bench:load-floor -- [options]

What socket.io alone costs a server for one secure round's traffic: the floor under bench:load's
coordinator CPU. A bare socket.io server (fedtune's packed parser, websocket transport) and n
clients in 4 other processes go through four stages with the sizes of a secure round at d = 12,810,
k = 41: a 51 KB start to everyone, then each client sends a message (128 B, 6,120 B, 51,292 B,
53,342 B: since fedtune/9 an unmask answer carries a correction as long as the vector when a
neighbour dropped, as nearly every survivor's does at 10 % dropout) that the server acknowledges,
and when all n have, the server relays one message to each (5,576 B, 6,120 B, 64 B). Nothing is parsed, checked, stored or summed. Prints the server's CPU time
per round (process.cpuUsage, all its threads; in brackets the kernel's part) and per stage.

Options:
  --n <n>        clients                                 (default 1000)
  --spread <ms>  each client waits a random 0–ms before each message, as participants busy with
                 their crypto do, so messages arrive spread over the stage  (default 0: at once)
  --rounds <n>   rounds; the first is a warm-up, not counted   (default 4)
  --read-pacing <ms>  pace the server's reads as the coordinator does (its ReadPacer, from 40
                 messages a second, turns of this many ms; fedtune coordinator --read-pacing),
                 so the floor compares with bench:load's paced coordinator  (default 0: off)
  --no-acks      the clients ask for no acknowledgement, and the server sends none: what the
                 coordinator's per-message answers cost the floor
  --json         print only one line of JSON (the counted rounds' medians), for bench:load
  -h, --help
`

const PROCS = 4
/** Bytes a client sends in each stage, and what the server relays when the stage closes (0: nothing). */
const SENT = [128, 40 * 153, 12_823 * 4, 41 * 50 + 12_823 * 4] as const
const RELAYED = [41 * 136, 40 * 153, 64, 0] as const
const START_BYTES = 12_823 * 4

type FloorRound = { readonly cpuMs: number; readonly systemMs: number; readonly stagesMs: readonly number[] }

/** What `--json` prints: the counted rounds' medians, and each counted round's CPU. */
export type FloorSummary = FloorRound & { readonly roundsMs: readonly number[] }

const role = process.argv[2]
if (role === 'server') await server(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]))
else if (role === 'clients')
  clients(
    Number(process.argv[3]),
    Number(process.argv[4]),
    Number(process.argv[5]),
    process.argv[6] === 'true',
  )
else process.exitCode = await main()

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '4' },
      spread: { type: 'string', default: '0' },
      'read-pacing': { type: 'string', default: '0' },
      'no-acks': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const n = Number(values.n)
  const rounds = Number(values.rounds)
  if (!Number.isInteger(n) || n < PROCS || n % PROCS !== 0)
    throw new Error(`--n: expected a multiple of ${PROCS}, got "${values.n}"`)
  if (!Number.isInteger(rounds) || rounds < 2)
    throw new Error(`--rounds: expected 2 or more, got "${values.rounds}"`)
  const spread = Number(values.spread)
  if (!Number.isInteger(spread) || spread < 0)
    throw new Error(`--spread: expected milliseconds ≥ 0, got "${values.spread}"`)
  const pacing = Number(values['read-pacing'])
  if (!Number.isInteger(pacing) || pacing < 0 || pacing > 100)
    throw new Error(
      `--read-pacing: expected milliseconds from 0 (off) to 100, got "${values['read-pacing']}"`,
    )
  const file = fileURLToPath(import.meta.url)
  const children: ChildProcess[] = []
  const acks = !values['no-acks']
  const server = fork(file, ['server', String(n), String(rounds), String(pacing)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  children.push(server)
  const results: FloorRound[] = []
  process.once('SIGTERM', () => {
    for (const child of children) child.kill()
    process.exit(1)
  })
  try {
    await new Promise<void>((resolve, reject) => {
      server.on('exit', (code) =>
        results.length === rounds ? resolve() : reject(new Error(`server exited (${code})`)),
      )
      server.on('message', (m: { port?: number; round?: FloorRound }) => {
        if (m.port !== undefined)
          for (let p = 0; p < PROCS; p++)
            children.push(
              fork(file, ['clients', String(m.port), String(n / PROCS), String(spread), String(acks)], {
                stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
              }),
            )
        if (m.round !== undefined) results.push(m.round)
      })
    })
  } finally {
    for (const child of children) child.kill()
  }
  const counted = results.slice(1)
  const summary: FloorSummary = {
    cpuMs: median(counted.map((r) => r.cpuMs)),
    systemMs: median(counted.map((r) => r.systemMs)),
    stagesMs: [0, 1, 2, 3].map((s) => median(counted.map((r) => r.stagesMs[s] ?? 0))),
    roundsMs: counted.map((r) => r.cpuMs),
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`)
    return 0
  }
  const ms = (v: number) => `${Math.round(v)} ms`
  process.stdout.write(
    `socket.io floor, n = ${n}, spread ${spread} ms, read pacing ${pacing === 0 ? 'off' : `${pacing} ms`}, ${acks ? 'acknowledged' : 'no acknowledgements'}, ${counted.length} counted rounds (medians): server CPU ${ms(median(counted.map((r) => r.cpuMs)))} a round ` +
      `(kernel ${ms(median(counted.map((r) => r.systemMs)))}); per stage ${[0, 1, 2, 3].map((s) => ms(median(counted.map((r) => r.stagesMs[s] ?? 0)))).join(' / ')}\n` +
      `each round: ${results.map((r, i) => `${i === 0 ? 'warm-up ' : ''}${ms(r.cpuMs)}`).join(', ')}\n`,
  )
  return 0
}

async function server(n: number, rounds: number, pacingMs: number): Promise<void> {
  const pacer = new ReadPacer({ turnMs: pacingMs })
  const http = createServer()
  const ioServer = new Server(http, {
    parser: packedParser,
    transports: ['websocket'],
    maxHttpBufferSize: 1e6,
    serveClient: false,
  })
  const sockets: Socket[] = []
  let round = 0
  let stage = 0
  let heard = 0
  let startedAt = process.cpuUsage()
  let mark = 0
  let stagesMs: number[] = []
  const cpuMs = () => {
    const { user, system } = process.cpuUsage()
    return (user + system) / 1000
  }
  const start = () => {
    round++
    stage = 0
    heard = 0
    stagesMs = []
    startedAt = process.cpuUsage()
    mark = cpuMs()
    const weights = new Uint8Array(START_BYTES)
    for (const s of sockets) s.emit('start', { round, weights })
  }
  ioServer.on('connection', (socket) => {
    sockets.push(socket)
    // as the coordinator's socket shell does for a joined participant's messages
    socket.conn.on('packet', (packet: { type: string }) => {
      if (packet.type === 'message') pacer.read()
    })
    socket.on('message', (_message: unknown, ack: unknown) => {
      if (typeof ack === 'function') ack({ ok: true })
      if (++heard < n) return
      heard = 0
      const size = RELAYED[stage] ?? 0
      if (size > 0) for (const s of sockets) s.emit('relay', { stage, bytes: new Uint8Array(size) })
      const now = cpuMs()
      stagesMs.push(now - mark)
      mark = now
      if (++stage < SENT.length) return
      const used = process.cpuUsage(startedAt)
      process.send?.({
        round: { cpuMs: (used.user + used.system) / 1000, systemMs: used.system / 1000, stagesMs },
      })
      if (round < rounds) setTimeout(start, 500)
      else setTimeout(() => process.exit(0), 100)
    })
    if (sockets.length === n) setTimeout(start, 1000)
  })
  http.listen(0, '127.0.0.1', () => process.send?.({ port: (http.address() as AddressInfo).port }))
}

function clients(port: number, count: number, spread: number, acks: boolean): void {
  for (let i = 0; i < count; i++) {
    const socket = io(`http://127.0.0.1:${port}`, {
      parser: packedParser,
      transports: ['websocket'],
      reconnection: false,
    })
    const emit = (stage: number) => {
      const message = { stage, bytes: new Uint8Array(SENT[stage] ?? 0) }
      if (acks) socket.timeout(60_000).emit('message', message, () => {})
      else socket.emit('message', message)
    }
    const send = (stage: number) =>
      spread === 0 ? emit(stage) : setTimeout(() => emit(stage), Math.random() * spread)
    socket.on('start', () => send(0))
    socket.on('relay', (m: { stage: number }) => send(m.stage + 1))
    // the last stage has no relay: the client goes quiet until the next start
  }
}
