/**
 * Balance tools for integration tests: read ilpd's `GET /balance` as bigints, temp store
 * directories that are always removed, and a receiver that holds the Prepares it gets until the
 * test lets them go (to see how many packets a limit lets through at once).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { IlpPacket, type Plugin, sha256 } from './btp'
import type { IlpdProcess } from './process'

export interface BalanceRow {
  balance: bigint
  minimum: string
  maximum: string
}

/** `GET /balance` → {account: {balance (bigint), minimum, maximum}}. */
export async function getBalances(ilpd: IlpdProcess): Promise<Record<string, BalanceRow>> {
  const { status, body } = await ilpd.admin<{ accounts: Record<string, { balance: string, minimum: string, maximum: string }> }>('GET', '/balance')
  if (status !== 200) throw new Error(`GET /balance: ${status} ${JSON.stringify(body)}`)
  const out: Record<string, BalanceRow> = {}
  for (const [id, row] of Object.entries(body.accounts)) {
    if (!/^-?\d+$/.test(row.balance)) throw new Error(`GET /balance: ${id}.balance is ${JSON.stringify(row.balance)}, not a decimal integer string`)
    out[id] = { balance: BigInt(row.balance), minimum: row.minimum, maximum: row.maximum }
  }
  return out
}

/** `GET /balance` → {account: balance}: for comparing every balance before and after. */
export async function balanceAmounts(ilpd: IlpdProcess): Promise<Record<string, bigint>> {
  const rows = await getBalances(ilpd)
  return Object.fromEntries(Object.entries(rows).map(([id, row]) => [id, row.balance]))
}

export async function balanceOf(ilpd: IlpdProcess, account: string): Promise<bigint> {
  const all = await getBalances(ilpd)
  if (all[account] === undefined) throw new Error(`GET /balance has no account ${account}`)
  return all[account].balance
}

const tempDirs = new Set<string>()
process.on('exit', () => {
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true })
})

/** A fresh temp directory (removed by `removeTempDir`, or at exit at the latest). */
export function makeTempDir(prefix = 'ilpd-store-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true })
  tempDirs.delete(dir)
}

export interface HeldPrepare {
  prepare: IlpPacket.IlpPrepare
  at: number
  release: (how: 'fulfill' | 'reject') => void
}

/** Counts across every connection of one account: how much was held at once, at most. */
export class HoldGroup {
  received = 0
  outstanding = 0
  outstandingAmount = 0n
  peakOutstanding = 0
  peakAmount = 0n
}

/**
 * A receiver that answers nothing until told: every Prepare waits in `held`. `outstanding` is
 * the number not yet answered; `peakOutstanding`/`peakAmount` the most that were held at once
 * (on this connection; `group` sums several connections of one account).
 */
export class HoldingReceiver {
  readonly held: HeldPrepare[] = []
  received = 0
  outstanding = 0
  outstandingAmount = 0n
  peakOutstanding = 0
  peakAmount = 0n
  autoFulfill = false

  constructor(plugin: Plugin, readonly address: string, readonly group = new HoldGroup()) {
    plugin.registerDataHandler((data: Buffer) => this.onPrepare(data))
  }

  private onPrepare(data: Buffer): Promise<Buffer> {
    const prepare = IlpPacket.deserializeIlpPrepare(data)
    this.received++
    const amount = BigInt(prepare.amount)
    this.outstanding++
    this.outstandingAmount += amount
    if (this.outstanding > this.peakOutstanding) this.peakOutstanding = this.outstanding
    if (this.outstandingAmount > this.peakAmount) this.peakAmount = this.outstandingAmount
    const g = this.group
    g.received++
    g.outstanding++
    g.outstandingAmount += amount
    if (g.outstanding > g.peakOutstanding) g.peakOutstanding = g.outstanding
    if (g.outstandingAmount > g.peakAmount) g.peakAmount = g.outstandingAmount
    return new Promise<Buffer>((resolve) => {
      const answer = (how: 'fulfill' | 'reject'): void => {
        this.outstanding--
        this.outstandingAmount -= amount
        this.group.outstanding--
        this.group.outstandingAmount -= amount
        const fulfillment = prepare.data.subarray(0, 32)
        if (how === 'fulfill' && prepare.data.length >= 32 && sha256(fulfillment).equals(prepare.executionCondition)) {
          resolve(IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.from(fulfillment), data: Buffer.alloc(0) }))
        } else {
          resolve(IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: this.address, message: 'rejected by the test', data: Buffer.alloc(0) }))
        }
      }
      if (this.autoFulfill) {
        answer('fulfill')
        return
      }
      let done = false
      this.held.push({
        prepare,
        at: Date.now(),
        release: (how) => {
          if (done) return
          done = true
          answer(how)
        },
      })
    })
  }

  /** Answers every held Prepare. */
  releaseAll(how: 'fulfill' | 'reject' = 'fulfill'): number {
    const all = this.held.splice(0)
    for (const h of all) h.release(how)
    return all.length
  }
}
