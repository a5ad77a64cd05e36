/**
 * Proves no admin request can take ilpd down or go unanswered: raw HTTP over TCP (so nothing
 * a client library would refuse to send is missed) against a real ilpd — bad percent-encodings
 * (`DELETE /routes/%E0%A4%A` and `POST /settlements/%ZZ` used to abort the process), very long
 * paths, NUL bytes raw and encoded, unicode raw and encoded, every method and some that are not
 * HTTP, random bytes, oversized, deeply nested and wrongly typed bodies, broken headers — a few
 * hundred seeded-random requests besides the fixed cases. Each gets an HTTP status line (400 bad
 * encoding or request, 404 unknown path, 405 known path with another method, 413 body over 1 MiB,
 * 431 headers over 16 KiB, 501 unknown method), and a handler that throws is a logged 500. After
 * all of it the process is still up, GET /status answers and a packet still goes through.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { rawHttp, rawRequest } from '../helpers/raw-http'
import { btpUrl, connectPlugin, disconnectAll, fulfillingReceiver, sendPrepare } from '../helpers/btp'
import { IlpdProcess, listenerAccount, startIlpd } from '../helpers/process'
import { freePorts } from '../helpers/ports'
import { seededBytes } from '../helpers/bytes'

const ADDRESS = 'test.ilpd'

const req = rawRequest

/** xorshift32: the same requests every run. */
function rng(seed: number): () => number {
  let x = seed | 1
  return () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    return (x >>> 0) / 0x100000000
  }
}

interface Case {
  name: string
  request: Buffer
  /** Statuses that are right for it; any status at all if absent. */
  expect?: number[]
}

function fixedCases(): Case[] {
  const cases: Case[] = []
  const add = (name: string, request: Buffer, expect?: number[]): void => {
    cases.push({ name, request, expect })
  }
  // The two requests that used to abort the process, and other broken percent-encodings.
  add('DELETE /routes/%E0%A4%A', req('DELETE', '/routes/%E0%A4%A'), [400])
  add('POST /settlements/%ZZ', req('POST', '/settlements/%ZZ', { body: '{"amount":"1"}' }), [400])
  for (const bad of ['%', '%Z', '%ZZ', '%E0%A4%A', '%FF', '%C0%AF', '%ED%A0%80', '%F8%88%80%80%80', '%%', '%0', 'a%2', '%E2%82']) {
    add(`DELETE /routes/${bad}`, req('DELETE', `/routes/${bad}`), [400])
    add(`POST /settlements/${bad}`, req('POST', `/settlements/${bad}`, { body: '{"amount":"5"}' }), [400])
    add(`GET /${bad}`, req('GET', `/${bad}`), [400])
    add(`GET /status/${bad}`, req('GET', `/status/${bad}`), [400])
  }
  // Unknown paths, known paths with other methods.
  add('GET /nothing', req('GET', '/nothing'), [404])
  add('GET /', req('GET', '/'), [404])
  add('GET /status/', req('GET', '/status/'), [404])
  add('GET //status', req('GET', '//status'), [404])
  add('GET /status?x=%ZZ (query ignored)', req('GET', '/status?x=%ZZ'), [200])
  add('GET absolute-form', req('GET', 'http://127.0.0.1/status'), [200])
  add('HEAD /status', req('HEAD', '/status'), [200])
  add('GET * ', req('GET', '*'), [400])
  add('OPTIONS *', req('OPTIONS', '*'), [400])
  for (const method of ['PUT', 'PATCH', 'DELETE', 'POST', 'OPTIONS', 'TRACE', 'PROPFIND', 'MKCOL', 'LOCK', 'PURGE', 'SEARCH']) {
    add(`${method} /status`, req(method, '/status'), [405])
  }
  add('GET /routes', req('GET', '/routes'), [405])
  add('PUT /routes/x', req('PUT', '/routes/x'), [405])
  add('GET /settlements/bob', req('GET', '/settlements/bob'), [405])
  add('CONNECT 127.0.0.1:1', req('CONNECT', '127.0.0.1:1'), [405])
  // Methods that are not HTTP methods.
  for (const method of ['FOO', 'get', 'Get', 'G\0T', 'GET\x7f', 'X'.repeat(5000), '\u00e9']) {
    add(`method ${JSON.stringify(method.slice(0, 10))}`, req(method, '/status'), [400, 501])
  }
  // Long paths: within the 16 KiB header limit (404), over it (431).
  for (const n of [1000, 8000, 15_000]) add(`path of ${n}`, req('GET', '/' + 'a'.repeat(n)), [404])
  // An id over 1023 bytes (the longest ILP address) is refused before any lookup.
  add('path of 8000 under /routes', req('DELETE', '/routes/' + 'b'.repeat(8000)), [400])
  add('path of 8000 %-encoded bytes', req('DELETE', '/routes/' + '%E2%82%AC'.repeat(900)), [400])
  add('an id of 1023 bytes', req('DELETE', '/routes/' + 'b'.repeat(1023)), [404])
  for (const n of [17_000, 100_000, 1_000_000]) add(`path of ${n}`, req('GET', '/' + 'a'.repeat(n)), [431])
  // NUL bytes and control characters, raw (not HTTP: 400) and encoded (a path like any other).
  add('raw NUL in path', req('GET', '/sta\0tus'), [400])
  add('raw NUL after the path', req('GET', '/status\0'), [400])
  add('raw tab in path', req('GET', '/sta\ttus'), [400])
  add('%00 in path', req('GET', '/%00'), [400])
  add('%00 route prefix', req('DELETE', '/routes/%00'), [400])
  add('%00 settlement account', req('POST', '/settlements/%00', { body: '{"amount":"1"}' }), [400])
  // Unicode, raw UTF-8 (not allowed in a request target: 400) and percent-encoded.
  add('raw UTF-8 path', Buffer.concat([Buffer.from('GET /r'), Buffer.from('ésumé ☃ 😀', 'utf8'), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]), [400])
  add('encoded UTF-8 path', req('GET', '/' + encodeURIComponent('résumé ☃ 😀')), [404])
  add('encoded UTF-8 route', req('DELETE', '/routes/' + encodeURIComponent('g.☃')), [404])
  add('encoded UTF-8 settlement', req('POST', '/settlements/' + encodeURIComponent('bøb😀'), { body: '{"amount":"1"}' }), [400])
  // Bodies: not JSON, JSON of the wrong shape or type, oversized, deeply nested.
  const wrong = ['', 'null', '5', '"x"', '[]', 'true', '{}', '{"amount":5}', '{"amount":null}', '{"amount":["1"]}', '{"amount":"1e5"}',
    '{"amount":"-1"}', '{"amount":"0"}', '{"amount":"01"}', '{"amount":" 1"}', '{"amount":{"toString":1}}', '{"__proto__":{"amount":"1"}}',
    '{"amount":"' + '9'.repeat(60_000) + '"}', '{"targetPrefix":5,"peerId":"bob"}', '{"targetPrefix":"g.x","peerId":["bob"]}',
    '{"targetPrefix":"../..","peerId":"bob"}', '{"targetPrefix":"g.x","peerId":"nobody"}', '{"targetPrefix":"' + 'a'.repeat(60_000) + '","peerId":"bob"}',
    '\u0000', '{"a":', '\ufeff{}', '{"amount":"1"}garbage']
  for (const body of wrong) {
    add(`POST /settlements/bob ${JSON.stringify(body.slice(0, 30))}`, req('POST', '/settlements/bob', { body }), [400])
    add(`POST /routes ${JSON.stringify(body.slice(0, 30))}`, req('POST', '/routes', { body }), [400])
  }
  const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth)
  add('deep nesting (30,000 levels)', req('POST', '/routes', { body: nested(30_000) }), [400])
  add('deep nesting of objects', req('POST', '/settlements/sally', { body: '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000) }), [400])
  add('body of 1 MiB', req('POST', '/routes', { body: Buffer.alloc(1024 * 1024, 0x20) }), [400])
  add('body of 1 MiB + 1', req('POST', '/routes', { body: Buffer.alloc(1024 * 1024 + 1, 0x20) }), [413])
  add('huge JSON (2 MiB)', req('POST', '/routes', { body: JSON.stringify({ targetPrefix: 'g.x', peerId: 'bob', pad: 'x'.repeat(2 * 1024 * 1024) }) }), [413])
  add('declared 1 TB, nothing sent', req('POST', '/settlements/sally', { contentLength: 1e12 }), [413])
  add('chunked body over 1 MiB', Buffer.concat([Buffer.from('POST /routes HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'),
    ...Array.from({ length: 300 }, () => Buffer.from(`1000\r\n${'z'.repeat(0x1000)}\r\n`)), Buffer.from('0\r\n\r\n')]), [413])
  add('chunked JSON of the wrong shape', Buffer.from('POST /routes HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'), [400])
  add('a body on a GET', req('GET', '/status', { body: seededBytes(5000, 7) }), [200])
  add('a body on a DELETE', req('DELETE', '/routes/g.none', { body: '{"x":1}' }), [404])
  // Headers.
  add('one 20 KiB header', req('GET', '/status', { headers: [`X-Big: ${'h'.repeat(20_000)}`] }), [431])
  add('500 headers', req('GET', '/status', { headers: Array.from({ length: 500 }, (_, i) => `X-H${i}: v`) }), [200, 431])
  add('header without a colon', req('GET', '/status', { headers: ['Broken header'] }), [400])
  add('NUL in a header value', req('GET', '/status', { headers: ['X-A: a\0b'] }), [400])
  add('two Content-Lengths', req('POST', '/routes', { headers: ['Content-Length: 2', 'Content-Length: 3'], body: '{}', contentLength: null }), [400])
  add('Content-Length and chunked', req('POST', '/routes', { headers: ['Transfer-Encoding: chunked', 'Content-Length: 2'], body: '{}', contentLength: null }), [400])
  add('Content-Length not a number', req('POST', '/routes', { headers: ['Content-Length: abc'], contentLength: null }), [400])
  add('negative Content-Length', req('POST', '/routes', { headers: ['Content-Length: -1'], contentLength: null }), [400])
  add('no Host (HTTP/1.1)', Buffer.from('GET /status HTTP/1.1\r\n\r\n'), [400])
  add('HTTP/1.0 without Host', Buffer.from('GET /status HTTP/1.0\r\n\r\n'), [200])
  add('HTTP/2 preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), [400, 505])
  add('HTTP/9.9', Buffer.from('GET /status HTTP/9.9\r\nHost: x\r\n\r\n'), [400, 505])
  add('not HTTP at all', Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'), [400, 501])
  add('empty lines before the request (ignored, as RFC 9112 allows)', Buffer.from('\r\n\r\nGET /status HTTP/1.1\r\nHost: x\r\n\r\n'), [200])
  add('Upgrade: websocket', req('GET', '/status', { headers: ['Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='] }), [200, 405])
  add('Upgrade: h2c', req('POST', '/routes', { headers: ['Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA'], body: '{}' }), [400, 405])
  // A handler that throws, at once and later: 500, logged, and the process goes on.
  add('a handler that throws', req('POST', '/test/throw', { body: '{}' }), [500])
  add('a handler whose promise rejects', req('POST', '/test/reject', { body: '{}' }), [500])
  return cases
}

function randomCases(count: number, seed: number): Case[] {
  const r = rng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]
  const methods = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS', 'FOO', 'get', 'M-SEARCH', 'UNLINK']
  const bases = ['/routes/', '/settlements/', '/', '/status/', '/workers/', '/routing', '/balance', '/settlements', '/routes']
  const cases: Case[] = []
  for (let i = 0; i < count; i++) {
    const method = pick(methods)
    const bytes = seededBytes(Math.floor(r() * 200), Math.floor(r() * 0x7fffffff))
    let tail = ''
    for (const b of bytes) {
      const kind = r()
      // Mostly percent-encoded bytes (any byte, valid UTF-8 or not), some raw printable characters,
      // some raw bytes the request line does not allow.
      if (kind < 0.6) tail += `%${b.toString(16).padStart(2, '0').toUpperCase()}`
      else if (kind < 0.9) tail += String.fromCharCode(0x21 + (b % 94))
      else if (kind < 0.95) tail += '%'
      else tail += String.fromCharCode(b)
    }
    const target = pick(bases) + tail
    const bodyKind = r()
    const body = bodyKind < 0.3 ? undefined
      : bodyKind < 0.6 ? seededBytes(Math.floor(r() * 3000), Math.floor(r() * 0x7fffffff))
        : bodyKind < 0.8 ? JSON.stringify({ amount: pick([1, '1', '-5', null, [], {}, '1'.repeat(40), 'x']), targetPrefix: pick(['g.a', 5, '', null]), peerId: pick(['bob', 'nobody', 1]) })
          : bodyKind < 0.95 ? '{"a":'.repeat(Math.floor(r() * 3000)) + '1'
            : Buffer.alloc(1024 * 1024 + Math.floor(r() * 100_000), 0x41)
    cases.push({ name: `random #${i}: ${method} ${JSON.stringify(target.slice(0, 40))}`, request: req(method, target, { body }) })
  }
  return cases
}

describe('admin API under fuzzed requests: every one answered, the connector stays up and forwards', () => {
  let ilpd: IlpdProcess
  let ports: { alice: number, bob: number, sally: number }

  before(async () => {
    const [a, b, s] = await freePorts(3)
    ports = { alice: a, bob: b, sally: s }
    ilpd = await startIlpd({
      workers: 2,
      env: {
        ILPD_TEST_HOOKS: '1',
        CONNECTOR_SPREAD: '0',
        CONNECTOR_ACCOUNTS: JSON.stringify({
          alice: listenerAccount(a, 'alice-secret'),
          bob: listenerAccount(b, 'bob-secret'),
          sally: listenerAccount(s, 'sally-secret', { balance: { minimum: '-Infinity', maximum: 'Infinity', settleThreshold: '-1000', settleTo: '0' } }),
        }),
      },
    })
  })

  after(async () => {
    await disconnectAll()
    await ilpd?.stop()
  })

  test('fixed and seeded-random requests: each gets an HTTP answer with the right status; ilpd is still up and forwarding', async () => {
    const cases = [...fixedCases(), ...randomCases(400, 0x5eed)]
    const unanswered: string[] = []
    const wrong: string[] = []
    const statuses = new Map<number, number>()
    for (let i = 0; i < cases.length; i += 16) {
      const batch = cases.slice(i, i + 16)
      const answers = await Promise.all(batch.map((c) => rawHttp(ilpd.adminPort, c.request)))
      for (let k = 0; k < batch.length; k++) {
        const { status, body, why } = answers[k]
        const c = batch[k]
        if (status === null) {
          unanswered.push(`${c.name}: no answer (${why})`)
          continue
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
        if (status === 500 && c.expect?.[0] !== 500) wrong.push(`${c.name}: 500 ${body.slice(0, 200)}`)
        if (c.expect !== undefined && !c.expect.includes(status)) wrong.push(`${c.name}: ${status} ${body.slice(0, 120)}, expected ${c.expect.join(' or ')}`)
        if (c.expect === undefined && ![200, 400, 404, 405, 413, 431, 501].includes(status)) wrong.push(`${c.name}: ${status} ${body.slice(0, 120)}`)
        if (c.expect === undefined && status === 200 && !/^(GET|HEAD) \/(routing|balance|settlements|status)$/.test(c.request.toString('latin1').split(' HTTP/')[0])) {
          wrong.push(`${c.name}: 200 for a request that should have been refused`)
        }
      }
      assert.ok(ilpd.running, `ilpd exited during the batch at ${i}:\n${ilpd.tail()}`)
    }
    console.log(`admin fuzz: ${cases.length} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`)
    assert.deepEqual(unanswered, [], 'every request gets an HTTP answer')
    assert.deepEqual(wrong, [], 'each with an apt status')
    assert.ok(ilpd.running, ilpd.tail())
    // Each 500 was logged with what failed.
    const logged = ilpd.logs.filter((l) => l.msg === 'admin request failed')
    assert.ok(logged.some((l) => /thrown by the test hook/.test(String(l.error))), JSON.stringify(logged))
    assert.ok(logged.some((l) => /rejected by the test hook/.test(String(l.error))), JSON.stringify(logged))
    assert.equal(logged.length, 2, `only the two hooks may fail inside a handler: ${JSON.stringify(logged)}`)

    // Still up and forwarding.
    const status = await ilpd.status()
    assert.equal(status.ready, true)
    assert.ok(status.workers.every((w) => w.alive && w.restarts === 0), JSON.stringify(status.workers))
    const alice = await connectPlugin(btpUrl('alice', 'alice-secret', ports.alice))
    fulfillingReceiver(await connectPlugin(btpUrl('bob', 'bob-secret', ports.bob)), `${ADDRESS}.bob`)
    const reply = await sendPrepare(alice, { destination: `${ADDRESS}.bob`, amount: 42 })
    assert.equal(reply.type, 'fulfill', `${reply.reject?.code} ${reply.reject?.message}`)
    const routing = await ilpd.admin<{ localRoutingTable: Record<string, unknown> }>('GET', '/routing')
    assert.equal(routing.status, 200)
    assert.ok('test.ilpd.bob' in routing.body.localRoutingTable || Object.keys(routing.body.localRoutingTable).length > 0)
  })

  test('a keep-alive connection goes on after a refused request, and after a 413 once the refused body is read', async () => {
    const answers = await new Promise<string>((resolve) => {
      const socket = net.connect(ilpd.adminPort, '127.0.0.1')
      let text = ''
      socket.on('data', (d) => {
        text += d.toString('latin1')
        if ((text.match(/HTTP\/1\.1 /g) ?? []).length === 4 && text.endsWith('}')) socket.destroy()
      })
      socket.on('close', () => resolve(text))
      socket.on('connect', () => {
        socket.write(req('DELETE', '/routes/%E0%A4%A'))
        socket.write(req('GET', '/status'))
        socket.write(req('POST', '/routes', { body: Buffer.alloc(2_000_000, 0x20) }))
        socket.write(req('GET', '/routing'))
      })
      setTimeout(() => socket.destroy(), 5000).unref()
    })
    const codes = [...answers.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]))
    assert.deepEqual(codes, [400, 200, 413, 200], answers.slice(0, 500))
  })
})
