/**
 * The messages two ilpd engines exchange over their connectors (RFC 38 `POST
 * /accounts/:id/messages`, carried between connectors in `peer.settle` packets). There is one
 * kind: "this is where to pay me" — the sender's ledger, its ledger account, and the tag it
 * wants on transfers meant for this account. The answer to an identity message is the
 * receiver's own identity, so one round trip teaches both sides.
 */
import { isLedgerName } from './ledger'
import type { PeerIdentity } from './store'

export const IDENTITY_TYPE = 'ilpd-local-ledger/identity'

export interface IdentityMessage extends PeerIdentity {
  type: typeof IDENTITY_TYPE
}

export function identityMessage(identity: PeerIdentity): Buffer {
  const message: IdentityMessage = { type: IDENTITY_TYPE, ledger: identity.ledger, account: identity.account, tag: identity.tag }
  return Buffer.from(JSON.stringify(message))
}

/** The identity in `bytes`, or a sentence saying why they are not an identity message. */
export function parseIdentityMessage(bytes: Buffer): PeerIdentity | string {
  let value: unknown
  try {
    value = JSON.parse(bytes.toString('utf8'))
  } catch {
    return 'message is not JSON'
  }
  if (value === null || typeof value !== 'object') return 'message is not a JSON object'
  const { type, ledger, account, tag } = value as Record<string, unknown>
  if (type !== IDENTITY_TYPE) return `unknown message type ${JSON.stringify(type)}`
  if (typeof ledger !== 'string' || ledger.length === 0 || ledger.length > 100) return 'identity message: ledger must be a string'
  if (!isLedgerName(account)) return 'identity message: account must be a ledger account name'
  if (typeof tag !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(tag)) return 'identity message: tag must be 1-64 URL-safe characters'
  return { ledger, account, tag }
}
