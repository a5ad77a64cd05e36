/**
 * The snapshot the workers run with, and everything that changes it on the control plane's side:
 * the address (configured, or learned from the parent over IL-DCP), the static routes the admin
 * API adds, CCP's learned routes (read through `learnedRoutes()` at each publish) and the account
 * slots. Building is control/tables.ts; compiling and posting is control/table-publisher.ts.
 *
 * Separate from connector.ts so that the one rule "every change bumps the version and goes
 * through publish()" lives in one small file, and a change that cannot be published is undone
 * here (an admin route too long under the address in use).
 */
import type { IlpdConfig } from '../config'
import { resolveAddressParent } from '../config'
import type { Logger } from '../log'
import { describePrefixProblem } from '../protocols/ilp/address'
import type { AccountEntry, Snapshot } from '../contracts/snapshot'
import type { ControlToWorker } from '../contracts/plane-messages'
import type { StaticRoute } from '../routing/selection'
import { LOCAL_HOP, type AccountSlot, type LearnedState, buildAccounts, buildSnapshot, buildStaticRoutes, snapshotParts } from './tables'
import { TablePublisher, compileThresholdFromEnv } from './table-publisher'

export interface SnapshotsHooks {
  /** CCP's learned routes for the trie, brought up to date (CcpSpeaker.refresh()). */
  learnedRoutes(): ReadonlyMap<string, number>
  /** Posts a message to every running worker. */
  broadcast(message: ControlToWorker): void
}

export class Snapshots {
  private readonly state: LearnedState
  private snapshot: Snapshot
  /** Compiles and posts snapshots; large route tables on a piscina thread. */
  readonly publisher: TablePublisher

  constructor(private readonly config: IlpdConfig, slots: ReadonlyArray<AccountSlot>, private readonly hooks: SnapshotsHooks, private readonly log: Logger) {
    this.state = { ownAddress: config.ilpAddress ?? '', version: 1, workerCount: config.workers, extraRoutes: new Map(), slots }
    this.snapshot = buildSnapshot(config, this.state)
    this.publisher = new TablePublisher({
      threshold: compileThresholdFromEnv(process.env.ILPD_ROUTE_COMPILE_THRESHOLD),
      parts: () => snapshotParts(this.config, this.state),
      install: (snapshot, acks) => {
        this.snapshot = snapshot
        if (acks.length === 0) this.hooks.broadcast({ type: 'snapshot', snapshot })
        for (const ack of acks) this.hooks.broadcast({ type: 'snapshot', snapshot, ack })
      },
      log,
    })
  }

  /** The snapshot last installed (what a worker started now gets). */
  current(): Snapshot {
    return this.snapshot
  }

  /** The address in use; '' while unknown. */
  get ownAddress(): string {
    return this.state.ownAddress
  }

  /** Reads CCP's learned routes again without publishing (at start; after a publish undone). */
  refreshLearned(): void {
    this.state.learnedRoutes = this.hooks.learnedRoutes()
  }

  /** Builds the snapshot in place, without posting it: at start, once the stored accounts are back. */
  rebuild(): void {
    this.state.version++
    this.snapshot = buildSnapshot(this.config, this.state)
  }

  /**
   * Builds and sends a new snapshot; workers swap it in between packets. A large route table is
   * compiled off this thread first (control/table-publisher.ts); `ack` is answered with it.
   */
  publish(ack?: number): void {
    this.refreshLearned()
    this.state.version++
    this.publisher.publish(ack)
  }

  /** The account table as the next snapshot will hold it. */
  accountEntries(): AccountEntry[] {
    return buildAccounts(this.config, this.state)
  }

  /** Configured and local routes for CCP (nextHop: account id, '' for ilpd itself). */
  staticRoutes(): StaticRoute[] {
    // The accounts as the snapshot being built will hold them (one added at runtime included).
    const accounts = buildAccounts(this.config, this.state)
    return buildStaticRoutes(this.config, accounts, this.state).map((r) => ({
      prefix: r.prefix,
      nextHop: r.nextHop === LOCAL_HOP ? '' : accounts[r.nextHop].id,
      origin: r.origin,
    }))
  }

  /** A worker heard `address` over IL-DCP from account `from`: used if that is where ilpd's address comes from. */
  parentAddress(from: string | undefined, address: string): void {
    if (this.config.ilpAddress !== null) return
    const inheritFrom = resolveAddressParent(this.config)
    if (inheritFrom !== null && inheritFrom !== from) return
    if (this.state.ownAddress === address) return
    this.log.info('address learned from parent over IL-DCP', { parent: from, address })
    this.state.ownAddress = address
    this.publish()
  }

  /** Adds or replaces a static route at runtime (admin API); returns a problem or null. */
  setRoute(targetPrefix: string, peerId: string): string | null {
    if (!this.snapshot.accounts.some((a) => a.id === peerId && a.removed !== true)) return `no account ${JSON.stringify(peerId)}`
    const problem = describePrefixProblem(targetPrefix)
    if (problem !== null) return `targetPrefix ${JSON.stringify(targetPrefix)} is not an ILP address prefix: it ${problem}`
    const before = this.state.extraRoutes.get(targetPrefix)
    this.state.extraRoutes.set(targetPrefix, peerId)
    try {
      this.publish()
    } catch (err) {
      // A table that cannot be built (a route past 1023 bytes under a learned address) is not kept.
      if (before === undefined) this.state.extraRoutes.delete(targetPrefix)
      else this.state.extraRoutes.set(targetPrefix, before)
      this.state.version--
      this.refreshLearned() // CCP: nor is it announced
      return `targetPrefix ${JSON.stringify(targetPrefix)}: ${(err as Error).message}`
    }
    return null
  }

  deleteRoute(targetPrefix: string): boolean {
    if (!this.state.extraRoutes.delete(targetPrefix)) return false
    this.publish()
    return true
  }
}
