/**
 * Proves ilpd refuses a store it cannot trust instead of starting with zeroed balances: random
 * bytes or a truncated real store in ilpd.mdb, CONNECTOR_STORE_PATH under a regular file, a
 * read-only directory (with and without a store in it), a store written in another format or by
 * another program (written here with the lmdb package directly). Each time: exit code 1, no
 * "ready", and a message that names the path; the file is left as it was. A missing directory is
 * created, and that is said in a warning (balances start at zero), never silently.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { open } from 'lmdb'
import { ILPD_CLI, ManagedProcess, childEnv, listenerAccount, runIlpdToExit, startIlpd } from '../helpers/process'
import { freePorts } from '../helpers/ports'
import { btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare } from '../helpers/btp'
import { getBalances, makeTempDir, removeTempDir } from '../helpers/balances'

const STORE_FILE = 'ilpd.mdb'
const ADDRESS = 'test.ilpd'

describe('bad store input: exit 1 with a message naming the path, never zeroed balances', () => {
  let ports: { alice: number, bob: number }
  const dirs: string[] = []
  /** A real store holding alice = 777, bob = −777 (made once, copied per case). */
  let realStore: string

  function accountsEnv(storePath: string): Record<string, string> {
    return {
      CONNECTOR_STORE: 'lmdb',
      CONNECTOR_STORE_PATH: storePath,
      CONNECTOR_SPREAD: '0',
      CONNECTOR_ACCOUNTS: JSON.stringify({
        alice: listenerAccount(ports.alice, 'alice-secret'),
        bob: listenerAccount(ports.bob, 'bob-secret'),
      }),
    }
  }

  function dir(): string {
    const d = makeTempDir('ilpd-badstore-')
    dirs.push(d)
    return d
  }

  /** Runs ilpd on `storePath` expecting it to refuse; returns the whole output. */
  async function expectRefused(storePath: string, mention: string, cwd?: string): Promise<string> {
    const { status, stdout, stderr, proc } = await runIlpdToExit({ env: accountsEnv(storePath), cwd: cwd ?? dir(), timeoutMs: 20_000, adminApi: false })
    const output = stdout + stderr
    assert.equal(status.code, 1, `exit code (signal ${status.signal})\n${proc.tail()}`)
    assert.equal(proc.readyLine, undefined, 'it must never become ready')
    assert.ok(output.includes(mention), `the message names ${mention}:\n${proc.tail()}`)
    assert.ok(!/\n\s+at /.test(output), `no stack trace:\n${proc.tail()}`)
    return output
  }

  before(async () => {
    const [a, b] = await freePorts(2)
    ports = { alice: a, bob: b }
    const cwd = dir()
    realStore = path.join(cwd, 'store')
    const ilpd = await startIlpd({ cwd, env: accountsEnv(realStore) })
    try {
      const alice = await connectPlugin(btpUrl('alice', 'alice-secret', a))
      fulfillingReceiver(await connectPlugin(btpUrl('bob', 'bob-secret', b)), `${ADDRESS}.bob`)
      assert.equal((await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: 777 })).type, 'fulfill')
    } finally {
      await disconnectAll()
      assert.equal((await ilpd.stop()).code, 0)
    }
  })

  after(() => {
    for (const d of dirs) {
      try {
        fs.chmodSync(d, 0o700)
        for (const sub of fs.readdirSync(d)) fs.chmodSync(path.join(d, sub), 0o700)
      } catch {
        // already gone
      }
      removeTempDir(d)
    }
  })

  /** A copy of the real store in a fresh directory. */
  function copyOfRealStore(): string {
    const target = path.join(dir(), 'store')
    fs.mkdirSync(target)
    fs.copyFileSync(path.join(realStore, STORE_FILE), path.join(target, STORE_FILE))
    return target
  }

  test('the real store itself opens with its balances (the control case)', async () => {
    const store = copyOfRealStore()
    const ilpd = await startIlpd({ cwd: path.dirname(store), env: accountsEnv(store) })
    try {
      const b = await getBalances(ilpd)
      assert.equal(b.alice.balance, 777n)
      assert.equal(b.bob.balance, -777n)
    } finally {
      await ilpd.stop()
    }
  })

  test('random bytes in ilpd.mdb', async () => {
    const store = path.join(dir(), 'store')
    fs.mkdirSync(store)
    const bytes = randomBytes(256 * 1024)
    fs.writeFileSync(path.join(store, STORE_FILE), bytes)
    await expectRefused(store, path.join(store, STORE_FILE))
    assert.ok(fs.readFileSync(path.join(store, STORE_FILE)).equals(bytes), 'the file is left as it was')
  })

  test('an empty ilpd.mdb', async () => {
    const store = path.join(dir(), 'store')
    fs.mkdirSync(store)
    fs.writeFileSync(path.join(store, STORE_FILE), '')
    await expectRefused(store, path.join(store, STORE_FILE))
  })

  test('a truncated real store: refused, or (if what is left is intact) the exact balances — never zero', async () => {
    const size = fs.statSync(path.join(realStore, STORE_FILE)).size
    const cuts = [...new Set([100, 4096 + 100, 8192 + 100, Math.floor(size / 2), size - 4096].filter((n) => n > 0 && n < size))]
    const outcomes: string[] = []
    for (const cut of cuts) {
      const store = copyOfRealStore()
      const file = path.join(store, STORE_FILE)
      fs.truncateSync(file, cut)
      const proc = await startIlpd({ cwd: path.dirname(store), env: accountsEnv(store), waitReady: false, adminApi: true })
      const ready = proc.waitReady(20_000).then(() => true, () => false)
      const isReady = await ready
      if (isReady) {
        const b = await getBalances(proc)
        await proc.stop()
        assert.equal(b.alice.balance, 777n, `truncated to ${cut} of ${size} bytes, ilpd started: alice must be 777`)
        assert.equal(b.bob.balance, -777n)
        outcomes.push(`${cut}: started with the exact balances`)
      } else {
        const status = await proc.exited
        await proc.stop()
        assert.equal(status.code, 1, `truncated to ${cut} of ${size}: exit code (signal ${status.signal})\n${proc.tail()}`)
        assert.ok((proc.stdout + proc.stderr).includes(file), `truncated to ${cut}: the message names ${file}\n${proc.tail()}`)
        outcomes.push(`${cut}: refused`)
      }
    }
    assert.ok(outcomes.some((o) => o.endsWith('refused')), `no truncation was refused: ${outcomes.join('; ')} (file ${size} bytes)`)
    console.log(`truncated store (${size} bytes): ${outcomes.join('; ')}`)
  })

  test('CONNECTOR_STORE_PATH is a regular file, or lies under one', async () => {
    const file = path.join(dir(), 'plain-file')
    fs.writeFileSync(file, 'not a directory')
    await expectRefused(file, file)
    await expectRefused(path.join(file, 'store'), path.join(file, 'store'))
    assert.equal(fs.readFileSync(file, 'utf8'), 'not a directory')
  })

  test('another format marker (written with the lmdb package): both formats named', async () => {
    const store = path.join(dir(), 'store')
    fs.mkdirSync(store)
    const db = open<unknown, string>({ path: path.join(store, STORE_FILE), encoding: 'json', compression: false })
    await db.put('meta:format', 'ilpd-store-2')
    await db.put('base:alice', '123456')
    await db.close()
    const output = await expectRefused(store, path.join(store, STORE_FILE))
    assert.match(output, /ilpd-store-2/)
    assert.match(output, /ilpd-store-1/)
  })

  test('an LMDB file of another program (data, no format marker)', async () => {
    const store = path.join(dir(), 'store')
    fs.mkdirSync(store)
    const db = open<unknown, string>({ path: path.join(store, STORE_FILE), encoding: 'json', compression: false })
    await db.put('users:1', { name: 'someone' })
    await db.close()
    await expectRefused(store, path.join(store, STORE_FILE))
  })

  test('a missing directory is created, with a warning that balances start at zero', async () => {
    const cwd = dir()
    const store = path.join(cwd, 'not', 'yet', 'there')
    const ilpd = await startIlpd({ cwd, env: accountsEnv(store) })
    try {
      assert.ok(fs.existsSync(path.join(store, STORE_FILE)))
      const warning = ilpd.logs.find((l) => l.level === 'warn' && /new balance store/.test(String(l.msg)))
      assert.ok(warning !== undefined, `a warning says a new store was created:\n${ilpd.tail()}`)
      assert.ok(JSON.stringify(warning).includes(store), 'the warning names the path')
    } finally {
      await ilpd.stop()
    }
  })

  describe('a read-only directory', () => {
    // As root, permissions do not stop writes: run ilpd as nobody (setpriv) when we are root.
    const root = process.getuid?.() === 0
    const setpriv = root ? spawnSync('sh', ['-c', 'command -v setpriv'], { encoding: 'utf8' }).stdout.trim() : ''
    const skip = root && setpriv === '' ? 'running as root without setpriv: permissions would not apply' : false

    async function runReadOnly(store: string): Promise<{ code: number | null, output: string, proc: ManagedProcess }> {
      const cwd = path.dirname(store)
      fs.chmodSync(cwd, 0o755)
      fs.chmodSync(store, 0o555)
      const env = childEnv({ ...accountsEnv(store), CONNECTOR_WORKERS: '1', CONNECTOR_ILP_ADDRESS: ADDRESS })
      const [cmd, args] = root
        ? [setpriv, ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, ILPD_CLI]]
        : [process.execPath, [ILPD_CLI]]
      const proc = new ManagedProcess('ilpd (read-only store dir)', cmd, args, { env, cwd })
      let timer: NodeJS.Timeout | undefined
      const status = await Promise.race([proc.exited, new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), 20_000) })])
      clearTimeout(timer)
      if (status === null) {
        await proc.stop(2000)
        assert.fail(`ilpd did not exit on a read-only store directory\n${proc.tail()}`)
      }
      return { code: status.code, output: proc.stdout + proc.stderr, proc }
    }

    test('empty read-only directory: the store cannot be created', { skip }, async () => {
      const store = path.join(dir(), 'store')
      fs.mkdirSync(store)
      const { code, output, proc } = await runReadOnly(store)
      assert.equal(code, 1, proc.tail())
      assert.ok(output.includes(store), `the message names ${store}:\n${proc.tail()}`)
      assert.ok(!output.includes('"msg":"ready"'))
    })

    test('read-only directory holding a real store: refused rather than run without durability', { skip }, async () => {
      const store = copyOfRealStore()
      const { code, output, proc } = await runReadOnly(store)
      assert.equal(code, 1, proc.tail())
      assert.ok(output.includes(store), `the message names ${store}:\n${proc.tail()}`)
      assert.ok(!output.includes('"msg":"ready"'))
    })
  })
})


/**
 * Store paths the disk cannot serve. A full disk used to kill ilpd with SIGBUS and no message
 * (LMDB writes through a memory map), a file-size limit likewise, and CONNECTOR_STORE_PATH=/proc/x
 * spun at 100% CPU for ever, deaf to SIGTERM (Node's recursive mkdir retries ENOENT there). Each
 * must now be one clear line naming the path, and exit 1, by itself, within the test's bound.
 */
describe('store paths the disk cannot serve: one clear line, exit 1, in bounded time', () => {
  let ports: { alice: number, bob: number }
  const dirs: string[] = []
  const mounts: string[] = []

  function env(storePath: string): Record<string, string> {
    return {
      CONNECTOR_STORE: 'lmdb',
      CONNECTOR_STORE_PATH: storePath,
      CONNECTOR_ACCOUNTS: JSON.stringify({ alice: listenerAccount(ports.alice, 'alice-secret'), bob: listenerAccount(ports.bob, 'bob-secret') }),
    }
  }

  function dir(): string {
    const d = makeTempDir('ilpd-storepath-')
    dirs.push(d)
    return d
  }

  /** The output's lines that name `storePath`: exactly one, the error, and no stack trace. */
  function assertOneClearLine(output: string, storePath: string, part: RegExp): string {
    const lines = output.split('\n').filter((l) => l.includes(storePath))
    assert.equal(lines.length, 1, `exactly one line names ${storePath}:\n${output}`)
    const line = JSON.parse(lines[0]) as { level: string, error: string }
    assert.equal(line.level, 'error')
    assert.match(line.error, part)
    assert.ok(!/\n\s+at /.test(output), `no stack trace:\n${output}`)
    return line.error
  }

  async function expectExit1(storePath: string, part: RegExp): Promise<string> {
    const { status, stdout, stderr, proc } = await runIlpdToExit({ env: env(storePath), cwd: dir(), timeoutMs: 20_000, adminApi: false })
    assert.equal(status.code, 1, `exit code (signal ${status.signal})\n${proc.tail()}`)
    assert.equal(proc.readyLine, undefined)
    return assertOneClearLine(stdout + stderr, storePath, part)
  }

  /** A tmpfs of `size` at a fresh directory, or null (with the reason) if it cannot be mounted. */
  function mountTmpfs(size: string): { at: string } | { skip: string } {
    const at = dir()
    const result = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', at], { encoding: 'utf8' })
    if (result.status !== 0) return { skip: `cannot mount a tmpfs here (${(result.stderr || result.error?.message || `exit ${result.status}`).trim()})` }
    mounts.push(at)
    return { at }
  }

  /** Fills a file system to the last byte. */
  function fill(at: string): void {
    const fd = fs.openSync(path.join(at, 'filler'), 'w')
    const chunk = Buffer.alloc(4096, 0x66)
    try {
      for (;;) fs.writeSync(fd, chunk)
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC')
    }
    for (let n = 512; n >= 1; n = Math.floor(n / 2)) {
      try {
        for (;;) fs.writeSync(fd, chunk, 0, n)
      } catch {
        // next, smaller
      }
    }
    fs.closeSync(fd)
    assert.equal(fs.statfsSync(at).bavail, 0, 'the tmpfs is full')
  }

  before(async () => {
    const [a, b] = await freePorts(2)
    ports = { alice: a, bob: b }
  })

  after(() => {
    for (const m of mounts) spawnSync('umount', [m])
    for (const d of dirs) removeTempDir(d)
  })

  test('CONNECTOR_STORE_PATH=/proc/x (mkdir there says ENOENT): exits, does not spin', async () => {
    const error = await expectExit1('/proc/x', /cannot create \/proc\/x/)
    assert.match(error, /virtual file system/)
  })

  test('CONNECTOR_STORE_PATH=/proc (a directory that can hold no files)', async () => {
    await expectExit1('/proc', /cannot hold files/)
  })

  test('a full disk (a tmpfs filled to the last byte): a new store is refused with the free space it found', async (t) => {
    const mounted = mountTmpfs('64k')
    if ('skip' in mounted) return t.skip(mounted.skip)
    fill(mounted.at)
    const store = path.join(mounted.at, 'store')
    const error = await expectExit1(store, /free on the disk/)
    assert.match(error, /only 0 KiB free/)
    assert.match(error, /at least 8\.0 MiB/)
    assert.ok(!fs.existsSync(path.join(store, STORE_FILE)), 'no half-made store is left for the next start to trip on')
  })

  test('a disk that fills up under an existing store: refused, the store left as it was', async (t) => {
    const mounted = mountTmpfs('16m')
    if ('skip' in mounted) return t.skip(mounted.skip)
    // A real store, made on a disk with room.
    const store = path.join(mounted.at, 'store')
    const ilpd = await startIlpd({ cwd: dir(), env: env(store) })
    try {
      const alice = await connectPlugin(btpUrl('alice', 'alice-secret', ports.alice))
      fulfillingReceiver(await connectPlugin(btpUrl('bob', 'bob-secret', ports.bob)), `${ADDRESS}.bob`)
      assert.equal((await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: 321 })).type, 'fulfill')
    } finally {
      await disconnectAll()
      assert.equal((await ilpd.stop()).code, 0)
    }
    const before = fs.readFileSync(path.join(store, STORE_FILE))
    fill(mounted.at)
    await expectExit1(store, /free on the disk/)
    assert.ok(fs.readFileSync(path.join(store, STORE_FILE)).equals(before), 'the store file is untouched')
    // Space freed: it starts with its balances.
    fs.rmSync(path.join(mounted.at, 'filler'))
    const again = await startIlpd({ cwd: dir(), env: env(store) })
    try {
      const b = await getBalances(again)
      assert.equal(b.alice.balance, 321n)
    } finally {
      await again.stop()
    }
  })

  test('a file size limit (ulimit -f) that the first write passes: the crash is the probe\'s, not ilpd\'s; nothing is left behind', async () => {
    const cwd = dir()
    const store = path.join(cwd, 'store')
    const proc = new ManagedProcess('ilpd (ulimit -f 8)', 'sh', ['-c', 'ulimit -f 8 && exec "$0" "$@"', process.execPath, ILPD_CLI],
      { env: childEnv({ ...env(store), CONNECTOR_WORKERS: '1', CONNECTOR_ILP_ADDRESS: ADDRESS }), cwd })
    let timer: NodeJS.Timeout | undefined
    const status = await Promise.race([proc.exited, new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), 20_000) })])
    clearTimeout(timer)
    if (status === null) {
      await proc.stop(2000)
      assert.fail(`ilpd did not exit under ulimit -f 8\n${proc.tail()}`)
    }
    assert.equal(status.code, 1, `exit code (signal ${status.signal})\n${proc.tail()}`)
    const error = assertOneClearLine(proc.stdout + proc.stderr, store, /cannot write to/)
    assert.match(error, /full disk, quota or file size limit|file size limit/)
    assert.ok(!fs.existsSync(path.join(store, STORE_FILE)), 'the probe\'s partial file is removed')
    // Without the limit the same path works.
    const ilpd = await startIlpd({ cwd, env: env(store) })
    await ilpd.stop()
  })
})
