/**
 * A large routing table over CCP, for the scale test and bench/ccp-scale.ts: a test CCP peer
 * (ccp-peer.ts) announces `count` routes in updates of `perUpdate` routes (one epoch each, the
 * last one reaching the peer's currentEpoch), one update in flight at a time.
 */
import type { TestCcpPeer } from './ccp-peer'
import { ccpRoute } from './ccp-peer'

/** The i-th route of a bulk table: spread over 100 second-level prefixes, as a backbone's are. */
export function bulkPrefix(i: number): string {
  return `test.bulk${i % 100}.r${i}`
}

/** Announces routes 0 … count−1 (bulkPrefix) from `peer`; resolves when every update is fulfilled. */
export async function announceBulk(peer: TestCcpPeer, count: number, perUpdate = 250): Promise<void> {
  const updates = Math.ceil(count / perUpdate)
  const first = peer.epoch
  for (let u = 0; u < updates; u++) {
    const newRoutes = []
    for (let i = u * perUpdate; i < Math.min(count, (u + 1) * perUpdate); i++) newRoutes.push(ccpRoute(bulkPrefix(i), [peer.address]))
    const reply = await peer.update({ currentEpochIndex: first + updates, newRoutes, holdDownTime: 600_000 })
    if (reply.type !== 'fulfill') throw new Error(`bulk update ${u} of ${updates}: ${JSON.stringify(reply.reject)}`)
  }
}
