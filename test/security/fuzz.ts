import * as fc from 'fast-check'
import { ProtocolError, REFUSAL_CODES } from '../../protocol/src/errors.ts'

/**
 * What every fuzz test of an inbound parser shares: the seed, the codes a refusal may carry, the
 * check that an input gives a typed value or a coded refusal and nothing else, in bounded time, and
 * the generators — wholly random values and mutations of valid messages, so that the parsers' deep
 * paths are reached and not only their first `typeof`.
 *
 * Cases per `npm test`: wire messages 42,000 + secagg stages 62,500 + task file 15,300 + HTTP
 * routes 2,500 + model.json 2,000 = 124,300 (each file prints its own count, values, refusals by
 * code and slowest case). About 20 s of CPU for all five, on this 2-core machine; socket-fuzz.test.ts
 * (a live federation under attack) adds ~8 s.
 */

/** Fixed, so `npm test` is reproducible; FUZZ_SEED=<integer> explores elsewhere. */
export const FUZZ_SEED = (() => {
  const raw = process.env.FUZZ_SEED
  if (raw === undefined || raw === '') return 20261202
  const seed = Number(raw)
  if (!Number.isSafeInteger(seed))
    throw new Error(`FUZZ_SEED: expected an integer, got ${JSON.stringify(raw)}`)
  return seed
})()

/** The refusal codes every ProtocolError must carry one of: the one list in protocol/src/errors.ts. */
export const CODES: readonly string[] = REFUSAL_CODES

/**
 * The most CPU time one call may take (`cpuMs`). Generous on purpose, ten times the slowest case
 * seen (~25 ms, GC included; up to 0.4 s of wall time on a 2-core machine shared by eight test
 * runs, which is why the bound is on CPU time): it catches work that grows with the input — a
 * quadratic loop, a regex that backtracks; the task file's search for k took 120 s — not milliseconds.
 */
export const CASE_BOUND_MS = 250

/**
 * Milliseconds of this process's CPU time since `started`: the work a case caused, which, unlike
 * the wall clock, does not grow when other processes share the cores.
 */
export function cpuMs(started: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(started)
  return (user + system) / 1000
}

/** Counts the cases run and keeps the slowest, for the bound and for the report. */
export class CaseTally {
  cases = 0
  values = 0
  refusals = 0
  slowestMs = 0
  readonly byCode = new Map<string, number>()

  summary(name: string): string {
    const codes = [...this.byCode].map(([c, n]) => `${c} ${n}`).join(', ')
    return `${name}: ${this.cases} cases, ${this.values} values, ${this.refusals} refusals (${codes}); slowest ${this.slowestMs.toFixed(2)} ms of CPU`
  }
}

/** Total cases over every fuzz file, printed by each file so the sum can be read from a run. */
export function reportTally(name: string, tally: CaseTally): void {
  console.info(`fuzz seed ${FUZZ_SEED} (FUZZ_SEED overrides) · ${tally.summary(name)}`)
}

/** Why an outcome is not allowed: anything but a value or a ProtocolError with a known code and a message. */
function checkRefusal(error: unknown, isRefusal: (e: unknown) => boolean): void {
  if (!isRefusal(error)) {
    const name = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    throw new Error(`expected a typed value or a refusal, got ${name}`, { cause: error })
  }
}

export function isProtocolRefusal(error: unknown): boolean {
  return (
    error instanceof ProtocolError &&
    CODES.includes(error.code) &&
    typeof error.message === 'string' &&
    error.message.length > 0
  )
}

/**
 * Runs one case: `call` must return (a value that passes `isTyped`) or throw what `isRefusal`
 * accepts, within CASE_BOUND_MS. Returns the value, or undefined after a refusal.
 */
export function outcome<T>(
  tally: CaseTally,
  call: () => T,
  isRefusal: (e: unknown) => boolean = isProtocolRefusal,
): T | undefined {
  const started = process.cpuUsage()
  let result: T | undefined
  try {
    result = call()
    counted(tally, result)
  } catch (error) {
    refused(tally, error, isRefusal)
  }
  finishCase(tally, started)
  return result
}

/** `outcome` for a call that returns a promise. */
export async function outcomeAsync<T>(
  tally: CaseTally,
  call: () => Promise<T>,
  isRefusal: (e: unknown) => boolean = isProtocolRefusal,
): Promise<T | undefined> {
  const started = process.cpuUsage()
  let result: T | undefined
  try {
    result = await call()
    counted(tally, result)
  } catch (error) {
    refused(tally, error, isRefusal)
  }
  finishCase(tally, started)
  return result
}

/** A value came back: it must be typed through and through. */
function counted(tally: CaseTally, result: unknown): void {
  checkTyped(result)
  tally.values++
}

/** Something was thrown: an untyped value found by `counted` goes on; anything else must be a refusal. */
function refused(tally: CaseTally, error: unknown, isRefusal: (e: unknown) => boolean): void {
  if (error instanceof UntypedValue) throw error
  checkRefusal(error, isRefusal)
  tally.refusals++
  const code = error instanceof ProtocolError ? error.code : (error as Error).name
  tally.byCode.set(code, (tally.byCode.get(code) ?? 0) + 1)
}

function finishCase(tally: CaseTally, started: NodeJS.CpuUsage): void {
  const ms = cpuMs(started)
  tally.cases++
  if (ms > tally.slowestMs) tally.slowestMs = ms
  if (ms > CASE_BOUND_MS)
    throw new Error(`expected a case to take at most ${CASE_BOUND_MS} ms, it took ${ms.toFixed(1)} ms`)
}

class UntypedValue extends Error {}

/**
 * What every parsed value is made of: the wire's types use null for "absent", never undefined, and
 * no parser may let through a hole, a non-finite number, a function or a prototype it did not build.
 */
function checkTyped(value: unknown, path = '(value)', depth = 0): void {
  const bad = (what: string) => new UntypedValue(`expected a typed value, got ${what} at ${path}`)
  if (depth > 12) throw bad('nesting deeper than any message')
  if (value === undefined) throw bad('undefined')
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw bad(`the number ${value}`)
    return
  }
  if (typeof value !== 'object') throw bad(typeof value)
  if (value instanceof Uint8Array || value instanceof Uint32Array || value instanceof Float32Array) return
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) throw bad(`a hole at [${i}]`)
      checkTyped(value[i], `${path}[${i}]`, depth + 1)
    }
    return
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && !(value instanceof Map)) throw bad('an object of a foreign prototype')
  if (value instanceof Map) {
    for (const [k, v] of value) checkTyped(v, `${path}.get(${String(k)})`, depth + 1)
    return
  }
  for (const [k, v] of Object.entries(value)) checkTyped(v, `${path}.${k}`, depth + 1)
}

/** fast-check's parameters for one property: the shared seed and this property's share of the cases. */
export function runs(numRuns: number): fc.Parameters<unknown> {
  return { seed: FUZZ_SEED, numRuns }
}

// ---------------------------------------------------------------------------------------------
// Generators

export const awkwardNumbers = fc.constantFrom(
  -0,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  Number.MAX_SAFE_INTEGER + 2,
  -1,
  0.5,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  1e21,
  -1e308,
)

export const awkwardStrings = fc.oneof(
  fc.constantFrom(
    '',
    ' 1',
    '1e2',
    '0x1',
    '-0',
    '__proto__',
    'constructor',
    'toString',
    '\u0000',
    '\u001b[31m',
    '\r\n',
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({
    unit: fc.constantFrom('\u0000', '\u001b', '\n', '\r', '\u2028', '\uD800', 'a', '/', '.', '%'),
    maxLength: 20,
  }),
  fc.nat({ max: 5000 }).map((n) => 'x'.repeat(n)),
)

export const objectKey = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 10 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'length'),
  },
)

/** Byte-like values of any length: what socket.io hands Node (Buffer), a browser (ArrayBuffer), and look-alikes. */
export function bytesLike(lengths: fc.Arbitrary<number> = fc.nat({ max: 300 })): fc.Arbitrary<unknown> {
  return fc.tuple(lengths, fc.nat({ max: 5 }), fc.integer({ min: 0, max: 255 })).map(([n, kind, fill]) => {
    const bytes = new Uint8Array(n + 1).fill(fill).map((b, i) => (b + i * 31) & 0xff)
    switch (kind) {
      case 0:
        return Buffer.from(bytes.subarray(0, n))
      case 1:
        return bytes.slice(0, n).buffer
      case 2:
        return bytes.subarray(1) // a view at an odd offset
      case 3:
        return new Float32Array(Math.ceil(n / 4))
      case 4:
        return new DataView(bytes.buffer, 0, n)
      default:
        return Array.from(bytes.subarray(0, n))
    }
  })
}

/** Nesting far deeper than any message: arrays or objects `depth` levels down. */
const deeplyNested = fc.tuple(fc.integer({ min: 100, max: 20_000 }), fc.boolean()).map(([depth, arrays]) => {
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = arrays ? [v] : { a: v }
  // fast-check prints a counterexample recursively and would overflow the stack on this one
  Object.defineProperty(v, fc.toStringMethod, {
    value: () => `${arrays ? 'arrays' : 'objects'} nested ${depth} deep`,
  })
  return v
})

/** Anything at all: JSON-ish values, binary, the awkward corners, deep nesting. */
export const junk: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.anything({
      key: objectKey,
      maxDepth: 4,
      maxKeys: 8,
      withTypedArray: true,
      withBigInt: true,
      withNullPrototype: true,
      withObjectString: true,
      withBoxedValues: true,
      withSparseArray: true,
      withMap: true,
      withSet: true,
      withDate: true,
      values: [fc.integer(), fc.double(), fc.boolean(), awkwardStrings, awkwardNumbers, fc.constant(null)],
    }),
  },
  { weight: 2, arbitrary: awkwardNumbers },
  { weight: 2, arbitrary: awkwardStrings },
  { weight: 2, arbitrary: bytesLike() },
  { weight: 1, arbitrary: deeplyNested },
)

/** A value near a valid one: what a confused or hostile sender would put in a field that had `valid`. */
function near(valid: unknown, filler: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  if (typeof valid === 'number')
    return fc.oneof(
      fc.constantFrom(valid + 1, valid - 1, -valid, valid + 0.5, valid * 2 ** 32, String(valid), [valid]),
      awkwardNumbers,
      fc.integer(),
    )
  if (typeof valid === 'string')
    return fc.oneof(
      fc.constantFrom(`${valid} `, valid.toUpperCase(), valid.slice(1), `${valid}${valid}`, `../${valid}`, [
        valid,
      ]),
      awkwardStrings,
    )
  if (valid instanceof Uint8Array)
    return fc.oneof(
      bytesLike(fc.constantFrom(0, 1, valid.length - 1, valid.length + 1, valid.length * 2, valid.length)),
      fc.constant(null).map(() => Array.from(valid)),
      fc.constant(null).map(() => new Uint8Array(valid.length)), // all zero: the small-order corner
      fc.constant(Buffer.from(valid).toString('base64')),
    )
  if (Array.isArray(valid)) {
    // Built afresh from a copy each time: a later mutation must reach neither `valid` nor another case.
    const variants: ((v: unknown[]) => unknown)[] = [
      (v) => [...v, ...(clone(v) as unknown[])],
      (v) => v.slice(1),
      () => [],
      (v) => [v[0], clone(v[0]), ...v.slice(1)],
      (v) => Object.assign([], v, { length: v.length + 1 }), // a trailing hole
      (v) => Object.fromEntries(v.entries()),
    ]
    return fc
      .nat({ max: variants.length - 1 })
      .map((i) => (variants[i] as (v: unknown[]) => unknown)(clone(valid) as unknown[]))
  }
  return filler
}

type Path = readonly (string | number)[]

/** Every node's path in a message, bytes counted as leaves. */
function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (
    typeof value !== 'object' ||
    value === null ||
    ArrayBuffer.isView(value) ||
    value instanceof ArrayBuffer
  )
    return []
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value)
  return keys.flatMap((k) => {
    const path = [...prefix, k]
    return [path, ...pathsOf((value as Record<string | number, unknown>)[k], path)]
  })
}

function clone(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value)
  if (Array.isArray(value)) return value.map(clone)
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clone(v)]))
  return value
}

function getAt(value: unknown, path: Path): unknown {
  // Earlier mutations may have removed or replaced a node on the way.
  return path.reduce<unknown>(
    (v, k) => (typeof v === 'object' && v !== null ? (v as Record<string | number, unknown>)[k] : undefined),
    value,
  )
}

type Mutation =
  | { readonly op: 'remove'; readonly at: number }
  | { readonly op: 'replace'; readonly at: number; readonly with: unknown }
  | { readonly op: 'near'; readonly at: number; readonly pick: number }
  | { readonly op: 'extra'; readonly at: number; readonly key: string; readonly with: unknown }

/**
 * Variants of a valid message: one to three of its fields (at any depth) removed, replaced by
 * junk, nudged to a value near the valid one (a byte array one short, a number one past its
 * range, a list with a duplicate), or joined by an unexpected key (`__proto__` among them).
 */
export function mutationsOf(valid: unknown, filler: fc.Arbitrary<unknown> = junk): fc.Arbitrary<unknown> {
  const paths = pathsOf(valid)
  const count = Math.max(paths.length, 1)
  const nearValues = paths.map((p) => near(getAt(valid, p), filler))
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ op: fc.constant('remove' as const), at: fc.nat({ max: count - 1 }) }),
    fc.record({ op: fc.constant('replace' as const), at: fc.nat({ max: count - 1 }), with: filler }),
    fc.record({ op: fc.constant('near' as const), at: fc.nat({ max: count - 1 }), pick: fc.nat() }),
    fc.record({
      op: fc.constant('extra' as const),
      at: fc.nat({ max: count - 1 }),
      key: objectKey,
      with: filler,
    }),
  )
  // `near` needs a value drawn from the field's own arbitrary: chain on the chosen path.
  const one = mutation.chain((m) =>
    m.op === 'near' && paths.length > 0
      ? (nearValues[m.at] as fc.Arbitrary<unknown>).map(
          (v): Mutation => ({ op: 'replace', at: m.at, with: v }),
        )
      : fc.constant(m),
  )
  return fc.array(one, { minLength: 1, maxLength: 3 }).map((ms) => {
    const message = clone(valid)
    for (const m of ms) apply(message, paths, m)
    return message
  })
}

function apply(message: unknown, paths: readonly Path[], m: Mutation): void {
  const path = paths[m.at]
  if (path === undefined) return
  const parent = getAt(message, path.slice(0, -1))
  // (a boxed string's characters are read-only)
  if (typeof parent !== 'object' || parent === null || ArrayBuffer.isView(parent) || parent instanceof String)
    return
  const key = path[path.length - 1] as string | number
  const target = parent as Record<string | number, unknown>
  if (m.op === 'remove') {
    if (Array.isArray(target) && typeof key === 'number') target.splice(key, 1)
    else delete target[key]
  } else if (m.op === 'replace') target[key] = m.with
  else if (m.op === 'extra') {
    const holder = getAt(message, path)
    const into =
      typeof holder === 'object' && holder !== null && !ArrayBuffer.isView(holder) ? holder : target
    // (an array with an own "constructor" breaks fast-check's printing of a counterexample)
    if (Array.isArray(into) || into instanceof String) return
    // defineProperty, so "__proto__" is an own key as JSON.parse makes it, not a prototype change
    Object.defineProperty(into, m.key, {
      value: m.with,
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
}

/** Half wholly random inputs, half mutations of the valid messages given. */
export function inputsLike(...valid: unknown[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 1, arbitrary: junk },
    { weight: 2, arbitrary: fc.oneof(...valid.map((v) => mutationsOf(v))) },
    { weight: 1, arbitrary: fc.constantFrom(...valid).map(clone) },
  )
}
