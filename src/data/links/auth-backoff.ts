/**
 * Cold path (BTP auth only). Back-off after failed BTP logins, one instance per worker.
 *
 * Why: a BTP secret can be guessed online if a listener answers every try at once. After
 * `freeFailures` failures within `windowMs`, a key has to wait before its next try is looked at,
 * and the wait doubles with each further failure up to `maxDelayMs`. There are two kinds of key:
 * - the source address (`sourceKey`: an IPv4 address, or an IPv6 /64, because one host usually
 *   gets a whole /64). This stops one host trying many secrets or many accounts.
 * - the account tried (a configured account id, or `port:<n>` when the username names no account
 *   on that port). This stops many hosts working together on one account.
 *
 * Lockout: anyone can make an account wait just by failing against it, so the account key must
 * not lock out the account's owner. Three rules keep the owner safe:
 * 1. A source that has logged in to an account is trusted for that account, and the account's
 *    wait does not apply to it (its own source wait still does). The owner gets back in from an
 *    address it used before, even while the account is under attack.
 * 2. Attempts refused during a wait are not counted as failures, and the wait is capped. An
 *    attacker cannot make the wait longer than `maxDelayMs` by trying harder. The cost of a
 *    persistent attack is that an owner connecting from a new address may have to wait up to
 *    `maxDelayMs` between tries.
 * 3. Live sessions are never affected: this class only answers whether a new auth attempt may go
 *    ahead.
 *
 * How a worker uses it (delayFor, then failed or succeeded, always with the same keys):
 *
 *   const now = Date.now()
 *   const key = <id of the account auth_username names on this port, else `port:${port}`>
 *   const wait = backoff.delayFor(link.remote, key, now)
 *   if (wait > 0) {                                   // refuse whatever the token is
 *     queue BTP Error T05 RateLimitedError backoffReason(wait); flush; close(1008, backoffReason(wait))
 *   } else if (token is wrong) {
 *     backoff.failed(link.remote, key, now); existing F00 reply and close(1008)
 *   } else {
 *     backoff.succeeded(link.remote, key, now); authenticated
 *   }
 *   auth timeout: backoff.failed(link.remote, '', now)   // counts against the source only
 *
 * During a wait even a correct token is refused. If it were accepted, a guess made during the
 * wait would show whether it was right, and the wait would not slow guessing down. Rule 1 is what
 * lets the owner back in.
 *
 * Storage: three tables of the same shape (sources, accounts, trusted source+account pairs).
 * Each one is a Map from key to slot, plus per-slot typed arrays that hold a doubly linked list
 * ordered by last failure (last success for `trusted`):
 *
 *   index: Map<key, slot>     head ─▶ slot 7 ⇄ slot 2 ⇄ … ⇄ slot 40 ◀─ tail
 *   slot s: count, last (ms), until (ms), prev, next, keys[s]   (most recent … oldest)
 *
 * Why an LRU ordered by time rather than a periodic sweep: the tail is always the entry nearest
 * to being forgotten. A new key first drops tail entries whose window has passed (O(1) each, so
 * no timer is needed). When the table is still full, the key takes the tail's slot. So memory
 * never goes past `maxEntries` per table, however many distinct addresses fail. Eviction only
 * lets a source fail again sooner, and a flood of addresses cannot evict the account table,
 * which is separate.
 * The arrays start small and double up to `maxEntries`, so a quiet worker uses little memory.
 */

export interface AuthBackoffOptions {
  /** Failures allowed within the window before a key has to wait. Default 5. */
  freeFailures?: number
  /** Wait after the first failure past the free ones; it doubles with each further failure. Default 100 ms. */
  baseDelayMs?: number
  /** Longest wait. Default 30 s. Must not exceed `windowMs`. */
  maxDelayMs?: number
  /** A key's failures are forgotten once it has had no failure for this long. Default 60 s. */
  windowMs?: number
  /** Most keys held in each of the three tables. Default 10,000. */
  maxEntries?: number
}

/** The text of the BTP Error and close reason for a refused attempt (short enough for a close frame: < 123 bytes). */
export function backoffReason(delayMs: number): string {
  return `too many failed logins, retry in ${delayMs} ms`
}

const NONE = -1
const INITIAL_SLOTS = 64

/** One table: key → slot, slots on a list with the most recent at the head (see the diagram above). */
class KeyTable {
  private readonly index = new Map<string, number>()
  private keys: Array<string | undefined> = []
  count: Int32Array
  last: Float64Array
  until: Float64Array
  private prev: Int32Array
  private next: Int32Array
  private head = NONE
  private tail = NONE
  /** Free slots, linked through `next`. */
  private free = NONE
  private used = 0

  constructor(private readonly maxEntries: number, private readonly forgetAfterMs: number) {
    const n = Math.min(INITIAL_SLOTS, maxEntries)
    this.count = new Int32Array(n)
    this.last = new Float64Array(n)
    this.until = new Float64Array(n)
    this.prev = new Int32Array(n)
    this.next = new Int32Array(n)
  }

  get size(): number {
    return this.index.size
  }

  find(key: string): number {
    return this.index.get(key) ?? NONE
  }

  /** The key's slot, now at the head with `last = now`; a new key starts with count 0 and until 0. */
  touch(key: string, now: number): number {
    let slot = this.index.get(key)
    if (slot !== undefined) {
      this.unlink(slot)
    } else {
      while (this.tail !== NONE && now - this.last[this.tail] >= this.forgetAfterMs) this.remove(this.tail)
      slot = this.allocate()
      this.index.set(key, slot)
      this.keys[slot] = key
      this.count[slot] = 0
      this.until[slot] = 0
    }
    this.last[slot] = now
    this.linkAtHead(slot)
    return slot
  }

  remove(slot: number): void {
    this.unlink(slot)
    this.index.delete(this.keys[slot]!)
    this.keys[slot] = undefined
    this.next[slot] = this.free
    this.free = slot
  }

  private allocate(): number {
    if (this.free !== NONE) {
      const slot = this.free
      this.free = this.next[slot]
      return slot
    }
    if (this.used === this.count.length && this.used < this.maxEntries) this.grow()
    if (this.used < this.count.length) return this.used++
    // Full: the least recently failed key gives up its slot.
    this.remove(this.tail)
    const slot = this.free
    this.free = this.next[slot]
    return slot
  }

  private grow(): void {
    const n = Math.min(this.count.length * 2, this.maxEntries)
    const widen = <T extends Int32Array | Float64Array>(a: T, make: new (n: number) => T): T => {
      const b = new make(n)
      b.set(a)
      return b
    }
    this.count = widen(this.count, Int32Array)
    this.prev = widen(this.prev, Int32Array)
    this.next = widen(this.next, Int32Array)
    this.last = widen(this.last, Float64Array)
    this.until = widen(this.until, Float64Array)
  }

  private linkAtHead(slot: number): void {
    this.prev[slot] = NONE
    this.next[slot] = this.head
    if (this.head !== NONE) this.prev[this.head] = slot
    else this.tail = slot
    this.head = slot
  }

  private unlink(slot: number): void {
    const p = this.prev[slot]
    const n = this.next[slot]
    if (p !== NONE) this.next[p] = n
    else this.head = n
    if (n !== NONE) this.prev[n] = p
    else this.tail = p
  }
}

export class AuthBackoff {
  private readonly freeFailures: number
  private readonly baseDelayMs: number
  private readonly maxDelayMs: number
  private readonly windowMs: number
  private readonly sources: KeyTable
  private readonly accounts: KeyTable
  /** Source+account pairs that have logged in. Kept until evicted: an owner may stay connected for weeks before it needs to reconnect. */
  private readonly trusted: KeyTable
  private failureCount = 0
  private refusedCount = 0

  constructor(options: AuthBackoffOptions = {}) {
    const {
      freeFailures = 5,
      baseDelayMs = 100,
      maxDelayMs = 30_000,
      windowMs = 60_000,
      maxEntries = 10_000,
    } = options
    if (!Number.isInteger(freeFailures) || freeFailures < 0) throw new RangeError(`auth back-off: freeFailures must be an integer >= 0, got ${freeFailures}`)
    if (!(baseDelayMs > 0) || !(maxDelayMs >= baseDelayMs)) throw new RangeError(`auth back-off: need 0 < baseDelayMs <= maxDelayMs, got ${baseDelayMs} and ${maxDelayMs}`)
    // A key forgotten while it still has to wait would start again with free failures.
    if (!(windowMs >= maxDelayMs)) throw new RangeError(`auth back-off: windowMs must be >= maxDelayMs, got ${windowMs} < ${maxDelayMs}`)
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`auth back-off: maxEntries must be an integer >= 1, got ${maxEntries}`)
    this.freeFailures = freeFailures
    this.baseDelayMs = baseDelayMs
    this.maxDelayMs = maxDelayMs
    this.windowMs = windowMs
    this.sources = new KeyTable(maxEntries, windowMs)
    this.accounts = new KeyTable(maxEntries, windowMs)
    this.trusted = new KeyTable(maxEntries, Infinity)
  }

  /** Failed attempts recorded by `failed`. */
  get failures(): number {
    return this.failureCount
  }

  /** Attempts refused because `delayFor` returned a wait. */
  get refused(): number {
    return this.refusedCount
  }

  /**
   * How long, in whole ms, an auth attempt from `remote` for `accountKey` must still wait
   * (0 = go ahead). `accountKey` '' checks the source only. Call this once per attempt: a positive
   * answer is counted in `refused`. It does not extend the wait.
   */
  delayFor(remote: string, accountKey: string, now: number): number {
    const source = sourceKey(remote)
    let wait = source === '' ? 0 : this.waitOf(this.sources, source, now)
    if (accountKey !== '') {
      const accountWait = this.waitOf(this.accounts, accountKey, now)
      // Trust needs a source to attach to: loopback clients (source '') share none.
      if (accountWait > wait && (source === '' || this.trusted.find(pairKey(source, accountKey)) === NONE)) wait = accountWait
    }
    if (wait > 0) this.refusedCount++
    return wait
  }

  /** Records a failed attempt (wrong token, malformed auth; auth timeout with `accountKey` ''). */
  failed(remote: string, accountKey: string, now: number): void {
    this.failureCount++
    const source = sourceKey(remote)
    if (source !== '') this.fail(this.sources, source, now)
    if (accountKey !== '') this.fail(this.accounts, accountKey, now)
  }

  /**
   * Records a login. It clears the source's failures and trusts the source for this account. The
   * account's own failures stay: other sources' guesses still count against it.
   */
  succeeded(remote: string, accountKey: string, now: number): void {
    const source = sourceKey(remote)
    const slot = this.sources.find(source)
    if (slot !== NONE) this.sources.remove(slot)
    if (accountKey !== '' && source !== '') this.trusted.touch(pairKey(source, accountKey), now)
  }

  /** Has `remote` logged in to `accountKey` before? (Its right token is let through a source wait.) */
  isTrusted(remote: string, accountKey: string): boolean {
    const source = sourceKey(remote)
    return accountKey !== '' && source !== '' && this.trusted.find(pairKey(source, accountKey)) !== NONE
  }

  /** Keys held per table, for /status and tests. */
  sizes(): { sources: number, accounts: number, trusted: number } {
    return { sources: this.sources.size, accounts: this.accounts.size, trusted: this.trusted.size }
  }

  private waitOf(table: KeyTable, key: string, now: number): number {
    const slot = table.find(key)
    if (slot === NONE) return 0
    const left = table.until[slot] - now
    return left > 0 ? Math.ceil(left) : 0
  }

  private fail(table: KeyTable, key: string, now: number): void {
    const slot = table.find(key)
    const quiet = slot !== NONE && now - table.last[slot] >= this.windowMs
    const s = table.touch(key, now)
    if (quiet) table.count[s] = 0
    const n = ++table.count[s]
    if (n > this.freeFailures) {
      const doublings = Math.min(n - this.freeFailures - 1, 30)
      table.until[s] = now + Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** doublings)
    }
  }
}

function pairKey(source: string, accountKey: string): string {
  return source + '\n' + accountKey
}

/**
 * The back-off key of a remote address as uWS prints it: an IPv4 address stays as it is, and an
 * IPv4-mapped IPv6 address (a dual-stack listener prints `0000:…:ffff:7f00:0001`) becomes the
 * IPv4 address. Any other IPv6 address becomes its /64 (`2001:0db8:0000:0001::/64`), since one
 * host can use every address in its /64. Text that does not parse is used as it is.
 */
export function sourceKey(remote: string): string {
  // Loopback has no source key: behind a local reverse proxy every client is 127.0.0.1, and one
  // failing client would lock out all the others. The account key still throttles guessing.
  if (remote.startsWith('127.') || remote === '::1' || remote === '0000:0000:0000:0000:0000:0000:0000:0001') return ''
  if (remote.indexOf(':') < 0) return remote
  const g = parseIpv6(remote)
  if (g === null) return remote
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return g[6] >> 8 === 127 ? '' : `${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.${g[7] & 255}`
  }
  const hex = (n: number): string => n.toString(16).padStart(4, '0')
  return `${hex(g[0])}:${hex(g[1])}:${hex(g[2])}:${hex(g[3])}::/64`
}

/** The eight 16-bit groups of an IPv6 address (full, `::`-compressed or with a dotted IPv4 tail, zone id ignored), or null. */
function parseIpv6(text: string): number[] | null {
  let s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text
  const zone = s.indexOf('%')
  if (zone >= 0) s = s.slice(0, zone)
  const halves = s.split('::')
  if (halves.length > 2) return null
  const parse = (part: string): number[] | null => {
    if (part === '') return []
    const out: number[] = []
    const pieces = part.split(':')
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]
      if (i === pieces.length - 1 && p.includes('.')) {
        const v4 = p.split('.')
        if (v4.length !== 4 || !v4.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255)) return null
        out.push((Number(v4[0]) << 8) | Number(v4[1]), (Number(v4[2]) << 8) | Number(v4[3]))
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16))
      } else {
        return null
      }
    }
    return out
  }
  const left = parse(halves[0])
  const right = halves.length === 2 ? parse(halves[1]) : []
  if (left === null || right === null) return null
  if (halves.length === 1) return left.length === 8 ? left : null
  const missing = 8 - left.length - right.length
  if (missing < 1) return null
  return [...left, ...new Array<number>(missing).fill(0), ...right]
}
