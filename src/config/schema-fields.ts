/**
 * The field schemas every setting and account is built from (ILP addresses, amounts, ports,
 * durations, counts), the named unions (relation, durability, env, store, backend), and
 * USER_MESSAGES: the messages written for the user, which errors.ts shows as they are.
 */
import { z } from 'zod'
import { describeAddressProblem, describePrefixProblem, describeSegmentProblem } from '../protocols/ilp/address'
import { MAX_UINT64 } from '../protocols/ilp/packet'
import { INTEGER_STRING, LIMIT_STRING, POSITIVE_STRING, THRESHOLD_STRING } from './amount'

/** Messages written here are shown to the user as they are (see errors.ts). */
export const USER_MESSAGES = new Set<string>()
export function says(text: string): { error: string } {
  USER_MESSAGES.add(text)
  return { error: text }
}

/**
 * A string check whose message depends on the value (the RFC 15 rules say what is wrong).
 * `params.user` marks the message as written for the user, like `says`.
 */
export function explained(lead: string, describe: (value: string) => string | null) {
  return z.string().superRefine((value, ctx) => {
    const problem = describe(value)
    if (problem !== null) ctx.addIssue({ code: 'custom', message: `${lead}: it ${problem}`, input: value, params: { user: true } })
  })
}

// ---- field schemas -------------------------------------------------------------------------

export const Segment = explained('must be an ILP address segment', describeSegmentProblem)
export const Address = explained('must be an ILP address such as "g.acme" or "test.ilpd" (RFC 15)', describeAddressProblem)
export const Prefix = explained('must be an ILP address prefix such as "g.acme" (RFC 15)', describePrefixProblem)

export const LimitAmount = z.string(says('must be an integer string such as "1000", or "Infinity" / "-Infinity"'))
  .regex(LIMIT_STRING, says('must be an integer string such as "1000", or "Infinity" / "-Infinity"'))
export const ThresholdAmount = z.string(says('must be an integer string such as "-1000", or "-Infinity"'))
  .regex(THRESHOLD_STRING, says('must be an integer string such as "-1000", or "-Infinity"'))
export const IntegerAmount = z.string(says('must be an integer string such as "0"'))
  .regex(INTEGER_STRING, says('must be an integer string such as "0"'))
export const PositiveAmount = z.string(says('must be a positive integer string such as "1000"'))
  .regex(POSITIVE_STRING, says('must be a positive integer string such as "1000"'))
/** An amount one packet or one throughput bucket carries: ILP amounts are uint64. */
export const PacketAmount = PositiveAmount.refine((v) => !POSITIVE_STRING.test(v) || BigInt(v) <= MAX_UINT64,
  says(`must be at most ${MAX_UINT64}, the largest ILP amount (uint64)`))

/** Node.js fires a longer timer at once (TimeoutOverflowWarning), so no duration may exceed it. */
export const MAX_TIMER_MS = 2 ** 31 - 1
/** 128 workers already join 16,256 rings of 4 MiB (virtual) each; more cores than that are rare. */
export const MAX_WORKERS = 128
/** Shared memory per account slot: ~370 bytes (balance words, limit buckets) + ~70 per worker; a million slots is ~0.5 GiB. */
export const MAX_ACCOUNTS = 1_000_000
export const Port = z.number().int().min(1).max(65535)
/** A duration in ms, from `min` up to what a timer can wait. */
export function millis(min: number) {
  return z.number().int().min(min).max(MAX_TIMER_MS, says(`must be at most ${MAX_TIMER_MS} ms (about 24.8 days), the longest timer Node.js keeps`))
}
export const Millis = millis(0)
export const PositiveMillis = millis(1)
/** Counters the data plane keeps in 32-bit words. */
export const Count = z.number().int().min(1).max(2 ** 31 - 1)
export const Bytes = z.number().int().min(1)
export const JsonObject = z.record(z.string(), z.unknown())

// ---- named values: the one definition of each union (import the types from src/config) -------

export const RELATIONS = ['parent', 'peer', 'child'] as const
export const RelationSchema = z.enum(RELATIONS)
export type Relation = z.infer<typeof RelationSchema>

export const DURABILITY_MODES = ['durable', 'process', 'relaxed'] as const
export const DurabilitySchema = z.enum(DURABILITY_MODES)
export type Durability = z.infer<typeof DurabilitySchema>

/** CONNECTOR_ENV: which addresses may be forwarded (`g` in production, `test*` in test). */
export const NETWORK_ENVS = ['production', 'test'] as const
export const NetworkEnvSchema = z.enum(NETWORK_ENVS)
export type NetworkEnv = z.infer<typeof NetworkEnvSchema>

/** Where balances live: LMDB on disk, or memory (lost on restart). */
export const STORE_KINDS = ['lmdb', 'memory'] as const
export const StoreKindSchema = z.enum(STORE_KINDS)
export type StoreKind = z.infer<typeof StoreKindSchema>

/** The exchange-rate backends ilpd has built in. */
export const BACKENDS = ['one-to-one', 'static'] as const
export const BackendSchema = z.enum(BACKENDS)
export type Backend = z.infer<typeof BackendSchema>
