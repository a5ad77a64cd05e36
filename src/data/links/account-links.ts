/**
 * What one worker opens and closes for its accounts, per link type, as snapshots change the
 * account table: at start every account is opened; afterwards an account that is new gets its
 * links, a removed one loses them, and one whose link options changed (`linkKey`) is closed and
 * opened again. Accounts whose settings alone changed (limits, relation) keep their links: the
 * snapshot carries the new settings to the next packet.
 *
 * Each link type is a small pair of functions (LinkType). BTP listener: the worker's uWS listener
 * for the account's (host, port) opens with the first account on it and closes with the last,
 * so a port several accounts share stays open for the others. BTP client: the worker the control
 * plane chose (`clientWorker`) dials the peer. HTTP (ilp-plugin-http) plugs in as one more entry
 * of `types` (see `linkTypeOf`): until it does, such an account is accepted and stays offline.
 *
 * Closing always closes the account's live links on this worker with a reason (BTP close frame
 * 1001) and takes them down at once, so the packets sent on them are rejected upstream (T01)
 * instead of waiting for the socket's close event.
 */
import type { AccountEntry } from '../../contracts/snapshot'

export type LinkTypeName = 'btp-listener' | 'btp-client' | 'http' | 'none'

/** What a worker does for one link type. */
export interface LinkType {
  /** Opens what the account needs on this worker; resolves when it accepts (or dials). */
  open(account: AccountEntry): Promise<void>
  /** Closes the account's links on this worker with `reason`, and what only it used. */
  close(account: AccountEntry, reason: string): void
}

/** The account's link type, from the snapshot entry. */
export function linkTypeOf(account: AccountEntry): LinkTypeName {
  if (account.removed === true) return 'none'
  if (account.listenerPort > 0) return 'btp-listener'
  if (account.client !== null) return 'btp-client'
  if (account.httpServer !== null) return 'http'
  return 'none'
}

const NOTHING: LinkType = {
  open: () => Promise.resolve(),
  close: () => undefined,
}

export class AccountLinks {
  private current: readonly AccountEntry[] = []

  constructor(private readonly types: Record<Exclude<LinkTypeName, 'none'>, LinkType>) {}

  private typeOf(account: AccountEntry): LinkType {
    const name = linkTypeOf(account)
    return name === 'none' ? NOTHING : this.types[name]
  }

  /**
   * Moves from the accounts applied last to `next`: closes first (a port can pass from one
   * account to another in one change), then opens. Resolves with what could not be opened.
   */
  async apply(next: readonly AccountEntry[]): Promise<string[]> {
    const before = this.current
    this.current = next
    const opening: AccountEntry[] = []
    for (const account of next) {
      const old = before[account.index]
      const same = old !== undefined && old.removed === account.removed && (old.linkKey ?? '') === (account.linkKey ?? '')
      if (same) continue
      if (old !== undefined && old.removed !== true) {
        this.typeOf(old).close(old, account.removed === true ? `account ${old.id} was removed` : `account ${old.id}'s link options changed`)
      }
      if (account.removed !== true) opening.push(account)
    }
    const problems: string[] = []
    await Promise.all(opening.map((account) => this.typeOf(account).open(account).catch((err: Error) => {
      problems.push(`account ${account.id}: ${err.message}`)
    })))
    return problems
  }

  /** Closes the links of every account (shutdown is handled by the worker; this is for tests). */
  closeAll(reason: string): void {
    for (const account of this.current) if (account.removed !== true) this.typeOf(account).close(account, reason)
    this.current = []
  }
}
