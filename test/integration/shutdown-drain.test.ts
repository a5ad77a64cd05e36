/**
 * Proves SIGTERM drains before it closes (lmdb store, durable; 1 and 2 workers, the pair on
 * different workers with 2): a receiver fulfills after 200–500 ms with 32,000 bytes of data, a
 * sender keeps 1,000 Prepares in flight (distinct amounts); SIGTERM arrives mid-stream and the
 * sender sends nothing more from then on. Once with the sender reading throughout, once with it
 * not reading from 300 ms before the signal to 1.5 s after it (so Fulfills are queued for its
 * link when the signal comes). Within CONNECTOR_SHUTDOWN_GRACE=5000:
 *   - every Prepare the sender sent gets an answer (Fulfill or Reject) before its link closes;
 *   - the link closes with 1001 (going away); ilpd exits 0;
 *   - after a restart on the same store, the sender's balance is exactly the sum of the
 *     Fulfills it received and the receiver's exactly minus that: nothing else.
 * ilpd used to close once nothing was in flight, dropping the Fulfills still queued for the
 * link (the peer saw 1006, about 800 packets unanswered, all of them committed in the store).
 */
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts, sleep } from '../helpers/ports'
import { getBalances, makeTempDir, removeTempDir } from '../helpers/balances'
import { CloseInfo, Responder, Tracker, authed, authedOnWorker, keepWindow } from '../helpers/flow'

const ADDRESS = 'test.ilpd'
const WINDOW = 1000
const GRACE_MS = 5000

for (const [workers, slowAtSignal] of [[1, true], [2, true], [1, false], [2, false]] as const) {
  const reading = slowAtSignal ? 'sender not reading around the signal' : 'sender reading throughout'
  describe(`SIGTERM with 1,000 packets in flight and 32 KB Fulfills (lmdb, ${workers} worker${workers > 1 ? 's' : ''}, ${reading})`, () => {
    const dir = makeTempDir('ilpd-drain-')
    const sockets: WebSocket[] = []
    let ilpd: IlpdProcess | null = null

    after(async () => {
      for (const s of sockets) s.terminate()
      if (ilpd !== null) await ilpd.stop(3000)
      removeTempDir(dir)
    })

    test('every packet answered before the 1001 close; stored balances = the Fulfills the sender received, exactly', async (t) => {
      const [s, r] = await freePorts(2)
      const env = {
        CONNECTOR_STORE: 'lmdb',
        CONNECTOR_STORE_PATH: `${dir}/store`,
        CONNECTOR_SPREAD: '0',
        CONNECTOR_SHUTDOWN_GRACE: String(GRACE_MS),
        // 1,000 Fulfills of 32 KB may sit queued for the sender: this test is about the drain,
        // not about the bound that would close a link queuing that much (slow-reader.test.ts).
        CONNECTOR_LINK_CLOSE_BYTES: String(512 * 1024 * 1024),
        CONNECTOR_ACCOUNTS: JSON.stringify({ sender: listenerAccount(s, 'sender-secret'), receiver: listenerAccount(r, 'receiver-secret') }),
      }
      ilpd = await startIlpd({ workers, cwd: dir, env })
      const rxWs = workers > 1 ? await authedOnWorker(ilpd, r, 'receiver', 'receiver-secret', 1) : await authed(r, 'receiver', 'receiver-secret')
      sockets.push(rxWs)
      const rx = new Responder(rxWs, `${ADDRESS}.receiver`, {
        fulfillData: Buffer.alloc(32_000, 0x33),
        delayMs: () => 200 + Math.floor(Math.random() * 300),
      })
      const txWs = workers > 1 ? await authedOnWorker(ilpd, s, 'sender', 'sender-secret', 0) : await authed(s, 'sender', 'sender-secret')
      sockets.push(txWs)
      const tx = new Tracker(txWs, { expiresIn: 30_000 })
      const flow = keepWindow(tx, 1_000_000, WINDOW, (i) => ({ destination: `${ADDRESS}.receiver`, amount: i + 1 }))

      // Mid-stream: a full window in flight, Fulfills coming back in bursts.
      const until = Date.now() + 20_000
      while (tx.fulfilled < 1500 && Date.now() < until) await sleep(20)
      assert.ok(tx.fulfilled >= 1500, `traffic flows before the SIGTERM (${tx.fulfilled} Fulfills)`)
      flow.stop()
      // The sender reads nothing for a moment: Fulfills queue up at ilpd for its link.
      if (slowAtSignal) {
        tx.pauseReading()
        await sleep(300)
      }
      const atSigterm = { sent: tx.sent.length, pending: tx.pending, fulfilled: tx.fulfilled, rxFulfilled: rx.fulfilled }
      const stopping = ilpd.stop(GRACE_MS + 10_000)
      if (slowAtSignal) {
        await sleep(1500)
        tx.resumeReading()
      }
      const close = await Promise.race([tx.closed, sleep(GRACE_MS + 8000).then((): CloseInfo => ({ code: -1, reason: 'still open', at: 0 }))])
      const exit = await stopping
      ilpd = null
      const unanswered = tx.sent.filter((p) => p.outcome === 'pending')
      const fulfilledSum = tx.sent.filter((p) => p.outcome === 'fulfill').reduce((sum, p) => sum + p.amount, 0n)
      t.diagnostic(`at SIGTERM: ${JSON.stringify(atSigterm)}; after: sender got ${tx.fulfilled} Fulfills (Σ ${fulfilledSum}), rejects ${JSON.stringify(tx.rejectsByCode)}, ` +
        `${unanswered.length} unanswered of ${tx.sent.length}; receiver fulfilled ${rx.fulfilled}; close ${close.code} ${JSON.stringify(close.reason)}; exit ${JSON.stringify(exit)}`)

      // Restart on the same store: what did ilpd commit?
      ilpd = await startIlpd({ workers, cwd: dir, env, name: 'ilpd-restarted' })
      const balances = await getBalances(ilpd)
      await ilpd.stop()
      ilpd = null
      t.diagnostic(`stored after the restart: sender ${balances.sender.balance}, receiver ${balances.receiver.balance} (Σ Fulfills received ${fulfilledSum})`)

      assert.equal(unanswered.length, 0, `${unanswered.length} of ${tx.sent.length} packets had no answer when the link closed (${atSigterm.pending} in flight at the SIGTERM)`)
      assert.equal(close.code, 1001, `the sender's link closes with 1001 (reason ${JSON.stringify(close.reason)})`)
      assert.equal(exit.code, 0, 'ilpd exits 0 on SIGTERM')
      assert.equal(exit.killed, false, 'ilpd exits by itself')
      assert.deepEqual(tx.misdeliveries, [])
      assert.equal(balances.sender.balance, fulfilledSum, 'sender\'s stored balance = Σ Fulfills it received')
      assert.equal(balances.receiver.balance, -fulfilledSum, 'receiver\'s stored balance = −Σ Fulfills the sender received')
    })
  })
}
