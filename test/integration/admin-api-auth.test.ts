/**
 * The admin API's authentication and limits, against real ilpd processes:
 *   - with CONNECTOR_ADMIN_API_TOKEN, every route (and unknown paths) answers 401 with
 *     `WWW-Authenticate: Bearer` and a JSON error to a missing or wrong token, and does what it
 *     does with the right one; a refused request changes nothing; refusals are logged, a few per
 *     interval, and no token ever appears in the output;
 *   - a 50 MB body gets 413 (declared or chunked) or 401 (without the token), and ilpd stays up;
 *   - malformed JSON gets 400 with the parser's message;
 *   - path tricks in ids (`..`, `%2e%2e`, `%00`, ids past 1023 bytes) get a clear 4xx;
 *   - nothing sent can make ilpd load a module;
 *   - GET /rates, /stats and /alerts in ilp-connector's shapes;
 *   - without a token, a host other than loopback is a config error (exit 1, one line naming both
 *     variables); with one, ilpd binds it.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import BigNumber from 'bignumber.js'
import { btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare } from '../helpers/btp'
import { IlpdProcess, REPO_ROOT, listenerAccount, runIlpdToExit, startIlpd } from '../helpers/process'
import { freePorts } from '../helpers/ports'
import { header, rawHttp, rawRequest, type RawAnswer } from '../helpers/raw-http'

const TOKEN = 'adm-7f3a9c1e5b2d8f4a6c0e9b3d7f1a5c8e'
const ADDRESS = 'test.ilpd'

interface RouteCase {
  method: string
  path: string
  body?: unknown
  /** The status with the right token. */
  ok: number
}

/** Every route ilpd serves without test hooks, with a request that succeeds. Order matters: the route is added before it is deleted. */
const ROUTES: RouteCase[] = [
  { method: 'GET', path: '/status', ok: 200 },
  { method: 'HEAD', path: '/status', ok: 200 },
  { method: 'GET', path: '/routing', ok: 200 },
  { method: 'GET', path: '/balance', ok: 200 },
  { method: 'GET', path: '/settlements', ok: 200 },
  { method: 'GET', path: '/rates', ok: 200 },
  { method: 'GET', path: '/stats', ok: 200 },
  { method: 'GET', path: '/alerts', ok: 200 },
  { method: 'DELETE', path: '/alerts/1', ok: 204 },
  { method: 'POST', path: '/routes', body: { targetPrefix: 'test.elsewhere', peerId: 'bob' }, ok: 200 },
  { method: 'DELETE', path: '/routes/test.elsewhere', ok: 200 },
  { method: 'POST', path: '/settlements/sally', body: { amount: '5' }, ok: 200 },
]

function send(port: number, method: string, target: string, auth: string | null, body?: unknown): Promise<RawAnswer> {
  const headers = auth === null ? [] : [`Authorization: ${auth}`]
  const text = body === undefined ? undefined : JSON.stringify(body)
  if (text !== undefined) headers.push('Content-Type: application/json')
  return rawHttp(port, rawRequest(method, target, { headers, body: text }))
}

function json(answer: RawAnswer): any {
  return JSON.parse(answer.body)
}

/** Sends a body of `size` bytes, declared (Content-Length) or chunked, in pieces, and reads the answer. */
function sendHuge(port: number, target: string, size: number, chunked: boolean, auth: string | null): Promise<RawAnswer> {
  const piece = Buffer.alloc(64 * 1024, 0x7b) // '{'
  const headers = ['Content-Type: application/json', ...(auth === null ? [] : [`Authorization: ${auth}`]),
    chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${size}`]
  const head = Buffer.from(`POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers.join('\r\n')}\r\n\r\n`)
  const parts: Buffer[] = [head]
  for (let sent = 0; sent < size; sent += piece.length) {
    const n = Math.min(piece.length, size - sent)
    parts.push(chunked ? Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), piece.subarray(0, n), Buffer.from('\r\n')]) : piece.subarray(0, n))
  }
  if (chunked) parts.push(Buffer.from('0\r\n\r\n'))
  return rawHttp(port, Buffer.concat(parts), 20_000)
}

describe('admin API with CONNECTOR_ADMIN_API_TOKEN', () => {
  let ilpd: IlpdProcess
  let ports: { alice: number, bob: number, sally: number }
  let started = 0

  before(async () => {
    const [a, b, s] = await freePorts(3)
    ports = { alice: a, bob: b, sally: s }
    started = Date.now()
    ilpd = await startIlpd({
      workers: 2,
      env: {
        CONNECTOR_ADMIN_API_TOKEN: TOKEN,
        CONNECTOR_SPREAD: '0.01',
        CONNECTOR_BACKEND: 'static',
        CONNECTOR_BACKEND_CONFIG: JSON.stringify({ rates: { USD: 1, EUR: 0.9 } }),
        CONNECTOR_ACCOUNTS: JSON.stringify({
          alice: listenerAccount(a, 'alice-secret'),
          bob: listenerAccount(b, 'bob-secret', { assetCode: 'EUR', assetScale: 6 }),
          sally: listenerAccount(s, 'sally-secret', { balance: { minimum: '-Infinity', maximum: 'Infinity', settleThreshold: '-1000', settleTo: '0' } }),
        }),
      },
    })
  })

  after(async () => {
    await disconnectAll()
    await ilpd?.stop()
  })

  test('every route: missing or wrong token 401 with WWW-Authenticate: Bearer and a JSON error; the right one does what the route does', async () => {
    const wrong = [
      null, // no Authorization header
      '', // empty
      `Bearer ${TOKEN.slice(0, -1)}x`, // same length, last byte differs
      `Bearer ${TOKEN.slice(0, -1)}`, // a prefix
      `Bearer ${TOKEN}x`, // longer
      `Bearer ${TOKEN.toUpperCase()}`, // tokens are case-sensitive
      `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`, // another scheme
      TOKEN, // no scheme
      'Bearer', // no token
      `Bearer ${TOKEN} ${TOKEN}`, // two tokens
    ]
    for (const route of [...ROUTES, { method: 'GET', path: '/no-such-route', ok: 404 }, { method: 'PUT', path: '/status', ok: 405 }]) {
      for (const auth of wrong) {
        const answer = await send(ilpd.adminPort, route.method, route.path, auth, route.body)
        const what = `${route.method} ${route.path} with ${JSON.stringify(auth)}`
        assert.equal(answer.status, 401, `${what}: ${answer.status} ${answer.body}`)
        assert.match(header(answer, 'www-authenticate') ?? '', /^Bearer\b/, what)
        if (route.method !== 'HEAD') {
          assert.equal(header(answer, 'content-type'), 'application/json', what)
          assert.equal(typeof json(answer).error, 'string', what)
        }
      }
      const answer = await send(ilpd.adminPort, route.method, route.path, `Bearer ${TOKEN}`, route.body)
      assert.equal(answer.status, route.ok, `${route.method} ${route.path} with the token: ${answer.status} ${answer.body}`)
    }
    // The scheme is case-insensitive (RFC 9110), the token is not.
    assert.equal((await send(ilpd.adminPort, 'GET', '/status', `bearer ${TOKEN}`)).status, 200)
    assert.equal((await send(ilpd.adminPort, 'GET', '/status', `BEARER  ${TOKEN}`)).status, 200)
    // ilpd's own client in the tests sends the token too.
    assert.equal((await ilpd.status()).ready, true)
  })

  test('a refused request changes nothing: no route added or removed, no settlement confirmed', async () => {
    const before = await ilpd.admin<{ accounts: Record<string, { balance: string }> }>('GET', '/balance')
    const bad = `Bearer not-${TOKEN}`
    assert.equal((await send(ilpd.adminPort, 'POST', '/routes', bad, { targetPrefix: 'test.sneaky', peerId: 'bob' })).status, 401)
    assert.equal((await send(ilpd.adminPort, 'POST', '/settlements/sally', null, { amount: '1000' })).status, 401)
    const routing = await ilpd.admin<{ localRoutingTable: Record<string, unknown> }>('GET', '/routing')
    assert.ok(!('test.sneaky' in routing.body.localRoutingTable), JSON.stringify(routing.body))
    const afterwards = await ilpd.admin<{ accounts: Record<string, { balance: string }> }>('GET', '/balance')
    assert.deepEqual(afterwards.body, before.body)
  })

  test('refusals are logged a few lines per interval, with the reason and never a token', async () => {
    await Promise.all(Array.from({ length: 60 }, (_, i) => send(ilpd.adminPort, 'GET', '/status', i % 2 === 0 ? null : `Bearer guess-${i}`)))
    await new Promise((resolve) => setTimeout(resolve, 200))
    // Hundreds of refusals so far (the tests above): at most 10 lines per 10 s window.
    const refused = ilpd.logs.filter((l) => l.msg === 'admin request refused: not authorized')
    const windows = Math.ceil((Date.now() - started) / 10_000) + 1
    assert.ok(refused.length >= 1 && refused.length <= 10 * windows, `${refused.length} lines in ${windows} windows`)
    assert.ok(refused.every((l) => l.level === 'warn' && ['missing', 'wrong token', 'not bearer'].includes(String(l.reason)) && typeof l.path === 'string'), JSON.stringify(refused))
    const output = ilpd.stdout + ilpd.stderr
    assert.ok(!output.includes(TOKEN), 'the token is never logged')
    assert.ok(!output.includes('guess-'), 'nor what a client sent as one')
  })

  test('a 50 MB body: 413 with the token (declared or chunked), 401 without; ilpd stays up and answers', async () => {
    const size = 50 * 1024 * 1024
    const declared = await sendHuge(ilpd.adminPort, '/routes', size, false, `Bearer ${TOKEN}`)
    assert.equal(declared.status, 413, `${declared.why} ${declared.body}`)
    assert.match(json(declared).error, /1 MiB/)
    const chunked = await sendHuge(ilpd.adminPort, '/routes', size, true, `Bearer ${TOKEN}`)
    assert.equal(chunked.status, 413, `${chunked.why} ${chunked.body}`)
    const unauthorized = await sendHuge(ilpd.adminPort, '/settlements/sally', size, false, null)
    assert.equal(unauthorized.status, 401, `${unauthorized.why} ${unauthorized.body}`)
    // A declared size over the limit is refused before a byte of the body is read.
    const early = await rawHttp(ilpd.adminPort, rawRequest('POST', '/routes', { headers: [`Authorization: Bearer ${TOKEN}`], contentLength: size }))
    assert.equal(early.status, 413)
    // Exactly 1 MiB is read (and is not JSON); one more byte is refused.
    const atLimit = await sendHuge(ilpd.adminPort, '/routes', 1024 * 1024, false, `Bearer ${TOKEN}`)
    assert.equal(atLimit.status, 400, atLimit.body)
    assert.equal((await sendHuge(ilpd.adminPort, '/routes', 1024 * 1024 + 1, false, `Bearer ${TOKEN}`)).status, 413)
    assert.ok(ilpd.running, ilpd.tail())
    const status = await ilpd.status()
    assert.ok(status.workers.every((w) => w.alive && w.restarts === 0), JSON.stringify(status.workers))
  })

  test('malformed JSON: 400 with the parser\'s message', async () => {
    for (const body of ['{', '{"targetPrefix":"test.x",}', "{'targetPrefix':'test.x'}", 'garbage', '{"amount":"1"}{"amount":"2"}', '\ufeff{}', 'NaN']) {
      for (const target of ['/routes', '/settlements/sally']) {
        const answer = await rawHttp(ilpd.adminPort, rawRequest('POST', target, { headers: [`Authorization: Bearer ${TOKEN}`], body }))
        assert.equal(answer.status, 400, `${target} ${JSON.stringify(body)}: ${answer.body}`)
        const error = json(answer).error as string
        assert.match(error, /^body is not valid JSON: \S/, error)
      }
    }
    // Valid JSON of the wrong shape says what the route takes.
    const shape = await send(ilpd.adminPort, 'POST', '/routes', `Bearer ${TOKEN}`, [1, 2])
    assert.equal(shape.status, 400)
    assert.match(json(shape).error, /targetPrefix/)
  })

  test('path tricks in ids: .., %2e%2e, %00, ids past 1023 bytes: a clear 4xx, and nothing else is reached', async () => {
    const auth = `Bearer ${TOKEN}`
    const cases: Array<[string, string, number, RegExp]> = [
      ['POST', '/settlements/..', 400, /may not be "\.\."/],
      ['POST', '/settlements/.', 400, /may not be "\."/],
      ['POST', '/settlements/%2e%2e', 400, /may not be "\.\."/],
      ['POST', '/settlements/%2E%2E', 400, /may not be "\.\."/],
      ['POST', '/settlements/../status', 400, /may not be "\.\."/],
      ['GET', '/settlements/../status', 400, /may not be "\.\."/],
      ['GET', '/status/..', 400, /may not be "\.\."/],
      ['GET', '/status/%2e', 400, /may not be "\."/],
      ['DELETE', '/routes/..', 400, /may not be "\.\."/],
      ['DELETE', '/routes/%2e%2e', 400, /may not be "\.\."/],
      ['DELETE', '/alerts/..', 400, /may not be "\.\."/],
      ['DELETE', '/routes/%00', 400, /control characters/],
      ['DELETE', '/routes/test.x%00.y', 400, /control characters/],
      ['POST', '/settlements/sally%00', 400, /control characters/],
      ['POST', '/settlements/sal%0aly', 400, /control characters/],
      ['POST', '/settlements/%2e%2e%2fstatus', 400, /no settleThreshold/], // one segment, "../status": no such account
      ['POST', '/settlements/..%5c..%5cetc%5cpasswd', 400, /no settleThreshold/],
      ['POST', '/settlements/%252e%252e', 400, /no settleThreshold/], // decoded once only: "%2e%2e"
      ['DELETE', '/routes/%2e%2e%2f%2e%2e', 404, /no route added/],
      ['DELETE', '/alerts/1%2e5', 400, /invalid alert id/],
      ['DELETE', '/routes/' + 'a'.repeat(1023), 404, /no route added/],
      ['DELETE', '/routes/' + 'a'.repeat(1024), 400, /1024 bytes; at most 1023/],
      ['POST', '/settlements/' + 'b'.repeat(5000), 400, /5000 bytes; at most 1023/],
      ['POST', '/settlements/' + '%E2%82%AC'.repeat(400), 400, /1200 bytes; at most 1023/],
    ]
    for (const [method, target, status, message] of cases) {
      const body = method === 'POST' ? '{"amount":"1"}' : undefined
      const answer = await rawHttp(ilpd.adminPort, rawRequest(method, target, { headers: [`Authorization: ${auth}`], body }))
      assert.equal(answer.status, status, `${method} ${target.slice(0, 60)}: ${answer.status} ${answer.body.slice(0, 200)}`)
      assert.match(json(answer).error, message, `${method} ${target.slice(0, 60)}`)
    }
    // Past the 16 KiB header limit: 431, as any request.
    assert.equal((await rawHttp(ilpd.adminPort, rawRequest('DELETE', '/routes/' + 'c'.repeat(20_000), { headers: [`Authorization: ${auth}`] }))).status, 431)
    // Without the token the same tricks get 401 before the path is even looked at.
    assert.equal((await rawHttp(ilpd.adminPort, rawRequest('GET', '/settlements/../status'))).status, 401)
    assert.equal((await rawHttp(ilpd.adminPort, rawRequest('DELETE', '/routes/%ZZ'))).status, 401)
    assert.ok(ilpd.running)
  })

  test('no request loads a module: /addAccount and friends with a plugin path leave it unloaded', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilpd-evil-'))
    const marker = path.join(dir, 'loaded')
    const evil = path.join(dir, 'evil-plugin.js')
    fs.writeFileSync(evil, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'loaded')\nmodule.exports = class {}\n`)
    try {
      const auth = `Bearer ${TOKEN}`
      const account = { relation: 'child', plugin: evil, assetCode: 'USD', assetScale: 9, options: {} }
      const attempts: Array<[string, string, unknown]> = [
        ['POST', '/addAccount', { id: 'evil', options: account }], // ilp-connector's, which require()s options.plugin
        ['POST', '/accounts/evil', account],
        ['PUT', '/accounts/evil', account],
        ['POST', '/routes', { targetPrefix: 'test.evil', peerId: evil }],
        ['POST', `/settlements/${encodeURIComponent(evil)}`, { amount: '1' }],
        ['DELETE', `/routes/${encodeURIComponent(evil)}`, undefined],
        ['POST', '/workers/0/crash', { plugin: evil }],
      ]
      for (const [method, target, body] of attempts) {
        const answer = await send(ilpd.adminPort, method, target, auth, body)
        assert.ok(answer.status !== null && answer.status >= 400 && answer.status < 500, `${method} ${target}: ${answer.status} ${answer.body}`)
      }
      assert.equal(fs.existsSync(marker), false, 'the module was never loaded')
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
    // And none can: the admin API's compiled code requires only literal module names and never import()s.
    // (Comments are prose: "require()" there is not a call.)
    const code = fs.readFileSync(path.join(REPO_ROOT, 'dist', 'src', 'control', 'admin-api.js'), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
    const requires = [...code.matchAll(/\brequire\s*\(([^)]*)\)/g)].map((m) => m[1].trim())
    assert.ok(requires.length > 0)
    assert.ok(requires.every((arg) => /^"[^"]+"$/.test(arg)), `require() only of literals: ${requires.join(', ')}`)
    assert.ok(!/\bimport\s*\(|\beval\s*\(|new Function\b/.test(code), 'no import(), eval or new Function')
  })

  test('GET /rates, /stats and /alerts in ilp-connector\'s shapes', async () => {
    const rates = await ilpd.admin<Record<string, Record<string, number>>>('GET', '/rates')
    assert.equal(rates.status, 200)
    // {source: {destination: rate}} for every ordered pair of distinct accounts, as ilp-connector's
    // backends compute it: rate × (1 − spread) × 10^(destination scale − source scale), 15 digits.
    const scale = { alice: 9, bob: 6, sally: 9 }
    const asset = { alice: 1, bob: 0.9, sally: 1 }
    const expected: Record<string, Record<string, number>> = {}
    for (const source of Object.keys(scale) as Array<keyof typeof scale>) {
      expected[source] = {}
      for (const dest of Object.keys(scale) as Array<keyof typeof scale>) {
        if (dest === source) continue
        expected[source][dest] = Number(new BigNumber(asset[dest]).div(asset[source]).times(0.99).shiftedBy(scale[dest] - scale[source]).toPrecision(15))
      }
    }
    assert.deepEqual(rates.body, expected)
    assert.equal(rates.body.alice.bob, 0.000891)

    // Traffic, then the counters in prom-client's getMetricsAsJSON shape.
    const alice = await connectPlugin(btpUrl('alice', 'alice-secret', ports.alice))
    fulfillingReceiver(await connectPlugin(btpUrl('bob', 'bob-secret', ports.bob)), `${ADDRESS}.bob`)
    for (let i = 0; i < 3; i++) {
      const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: 1_000_000 })
      assert.equal(reply.type, 'fulfill', `${reply.reject?.code} ${reply.reject?.message}`)
    }
    const reject = await sendPrepare(alice, { destination: 'test.nowhere', amount: 1 })
    assert.equal(reject.type, 'reject')
    type Metric = { help: string, name: string, type: string, values: Array<{ value: number, labels: Record<string, unknown> }>, aggregator: string }
    const sum = (metrics: Metric[], name: string, labels: Record<string, unknown> = {}): number =>
      metrics.find((m) => m.name === name)!.values
        .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
        .reduce((total, v) => total + v.value, 0)
    let metrics: Metric[] = []
    const deadline = Date.now() + 5000
    while (Date.now() < deadline) {
      const stats = await ilpd.admin<Metric[]>('GET', '/stats')
      assert.equal(stats.status, 200)
      metrics = stats.body
      if (sum(metrics, 'ilpd_incoming_replies', { result: 'fulfilled' }) >= 3 && sum(metrics, 'ilpd_incoming_replies', { result: 'rejected' }) >= 1) break
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    assert.ok(Array.isArray(metrics))
    for (const m of metrics) {
      assert.deepEqual(Object.keys(m).sort(), ['aggregator', 'help', 'name', 'type', 'values'], JSON.stringify(m))
      assert.ok(m.type === 'counter' || m.type === 'gauge', m.name)
      assert.equal(m.aggregator, 'sum')
      for (const v of m.values) {
        assert.deepEqual(Object.keys(v).sort(), ['labels', 'value'])
        assert.equal(typeof v.value, 'number')
      }
    }
    assert.equal(sum(metrics, 'ilpd_incoming_prepares'), 4, JSON.stringify(metrics))
    assert.equal(sum(metrics, 'ilpd_incoming_replies', { result: 'fulfilled' }), 3)
    assert.equal(sum(metrics, 'ilpd_incoming_replies', { result: 'rejected' }), 1)
    assert.equal(sum(metrics, 'ilpd_local_rejects', { code: 'F02' }), 1)
    assert.equal(sum(metrics, 'ilpd_worker_alive'), 2)
    assert.equal(metrics.find((m) => m.name === 'ilpd_worker_alive')!.values.length, 2, 'one value per worker')

    const alerts = await ilpd.admin('GET', '/alerts')
    assert.deepEqual(alerts, { status: 200, body: { alerts: [] } })
  })
})

describe('admin API bind address and token (config)', () => {
  test('without a token, a host other than loopback is a config error: exit 1, one line naming both variables', async () => {
    for (const host of ['0.0.0.0', '::', '10.1.2.3']) {
      const { status, stderr } = await runIlpdToExit({ env: { CONNECTOR_ACCOUNTS: '{}', CONNECTOR_ADMIN_API_HOST: host } })
      assert.equal(status.code, 1, stderr)
      const lines = stderr.trim().split('\n')
      assert.equal(lines.length, 1, stderr)
      assert.match(lines[0], /^ilpd: invalid configuration: CONNECTOR_ADMIN_API_HOST: .* is not a loopback address, and CONNECTOR_ADMIN_API_TOKEN is not set/)
      assert.ok(lines[0].includes(JSON.stringify(host)), lines[0])
    }
  })

  test('with a token, ilpd binds a non-loopback host and asks every request for it; without one, loopback needs none', async () => {
    const secured = await startIlpd({ env: { CONNECTOR_ACCOUNTS: '{}', CONNECTOR_ADMIN_API_HOST: '0.0.0.0', CONNECTOR_ADMIN_API_TOKEN: TOKEN } })
    try {
      assert.equal((await send(secured.adminPort, 'GET', '/status', null)).status, 401)
      assert.equal((await send(secured.adminPort, 'GET', '/status', `Bearer ${TOKEN}`)).status, 200)
      const listening = secured.logs.find((l) => l.msg === 'admin API listening')
      assert.equal(listening?.host, '0.0.0.0')
      assert.equal(listening?.auth, 'bearer token')
      assert.ok(!(secured.stdout + secured.stderr).includes(TOKEN), 'the token is never logged')
    } finally {
      await secured.stop()
    }
    const open = await startIlpd({ env: { CONNECTOR_ACCOUNTS: '{}' } })
    try {
      assert.equal((await send(open.adminPort, 'GET', '/status', null)).status, 200)
      // A stray Authorization header is ignored when no token is configured.
      assert.equal((await send(open.adminPort, 'GET', '/status', 'Bearer whatever')).status, 200)
    } finally {
      await open.stop()
    }
  })
})
