/**
 * HOT PATH. Network rules (incoming, after peer.*): a connector lives on one ILP network
 * (`CONNECTOR_ENV`, RFC 15 allocation schemes). A `test` connector never forwards to `g.`
 * addresses and a `production` one never to `test.`, `test1.`, `test2.` or `test3.` ones, so
 * test traffic cannot leak into real money and the reverse. The reject is F02 Unreachable.
 * Not a middleware in ilp-connector: it cannot be disabled.
 */
import type { NetworkEnv } from '../../contracts/snapshot'
import { CONTINUE, type PacketContext, type PolicyReject, policyReject } from './context'

const G = Buffer.from('g.', 'ascii')
const TEST_PREFIXES = ['test.', 'test1.', 'test2.', 'test3.'].map((p) => Buffer.from(p, 'ascii'))

export const OFF_NETWORK_TEST = policyReject('F02', 'network: this is a test connector (CONNECTOR_ENV=test); it does not forward to g. addresses')
export const OFF_NETWORK_PRODUCTION = policyReject('F02', 'network: this is a production connector (CONNECTOR_ENV=production); it does not forward to test addresses')

function startsWith(buf: Uint8Array, start: number, length: number, prefix: Uint8Array): boolean {
  if (length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (buf[start + i] !== prefix[i]) return false
  return true
}

/** True when the destination (bytes `buf[destStart, destStart + destLength)`) is on this network. */
export function checkNetwork(env: NetworkEnv, buf: Uint8Array, destStart: number, destLength: number): boolean {
  if (env === 'test') return !startsWith(buf, destStart, destLength, G)
  if (buf[destStart] !== 0x74) return true // 't': cheap exit for the usual g. traffic
  for (let i = 0; i < TEST_PREFIXES.length; i++) if (startsWith(buf, destStart, destLength, TEST_PREFIXES[i])) return false
  return true
}

export function offNetworkReject(env: NetworkEnv): PolicyReject {
  return env === 'test' ? OFF_NETWORK_TEST : OFF_NETWORK_PRODUCTION
}

export const networkPolicy = {
  name: 'network',
  check(c: PacketContext): number {
    const p = c.p
    return checkNetwork(c.env, p.buf, p.destinationStart, p.destinationLength) ? CONTINUE : c.rejectWith(offNetworkReject(c.env))
  },
} as const
