import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { ConfigError, loadConfig } from '../../../src/config'
import { HttpCallbackRegistry } from '../../../src/data/links/http-callbacks'

/** An ilp-plugin-http child account with `options` as given. */
function http(options: Record<string, unknown>, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { relation: 'child', plugin: 'ilp-plugin-http', assetCode: 'USD', assetScale: 9, options, ...fields }
}

function load(accounts: Record<string, unknown>, env: Record<string, string> = {}) {
  return loadConfig({ CONNECTOR_ILP_ADDRESS: 'test.ilpd', CONNECTOR_ACCOUNTS: JSON.stringify(accounts), ...env })
}

/** The ConfigError's message; fails when loading succeeds. */
function problemsOf(accounts: Record<string, unknown>, env: Record<string, string> = {}): string {
  try {
    load(accounts, env)
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err))
    return err.message
  }
  assert.fail('expected a ConfigError')
}

describe('ilp-plugin-http accounts', () => {
  test('incoming and outgoing with static tokens, as the plugin README writes them', () => {
    const { config, warnings } = load({
      h: http({ incoming: { port: 4000, staticToken: 'in-token' }, outgoing: { url: 'https://peer.example/ilp', staticToken: 'out-token' } }),
    })
    assert.deepEqual(config.accounts.h.link, {
      type: 'http',
      incoming: { port: 4000, host: null, auth: { kind: 'token', token: 'in-token' } },
      outgoing: { url: 'https://peer.example/ilp', auth: { kind: 'token', token: 'out-token' }, http2: false, name: '4000', callbackUrl: null },
    })
    assert.deepEqual(warnings, [])
  })

  test('JWT secrets, expiry, http2 and name; a static token beside a JWT secret is accepted too', () => {
    const { config } = load({
      h: http({
        incoming: { port: 4000, jwtSecret: 'in-secret', staticToken: 'also' },
        outgoing: { url: 'http://127.0.0.1:5000/', jwtSecret: 'out-secret', jwtExpiry: 60000, http2: true, name: 'ilpd' },
      }),
    })
    assert.deepEqual(config.accounts.h.link, {
      type: 'http',
      incoming: { port: 4000, host: null, auth: { kind: 'jwt', secret: 'in-secret', token: 'also' } },
      outgoing: { url: 'http://127.0.0.1:5000/', auth: { kind: 'jwt', secret: 'out-secret', expiryMs: 60000 }, http2: true, name: 'ilpd', callbackUrl: null },
    })
  })

  test('legacy names: secret, secretToken, tokenExpiry (and they win over the new names, as in the plugin)', () => {
    const { config } = load({
      h: http({
        incoming: { port: 4000, secret: 'old-secret', jwtSecret: 'new-secret' },
        outgoing: { url: 'http://127.0.0.1:5000/', secret: 'out-old', tokenExpiry: 10000, jwtExpiry: 20000 },
      }),
      k: http({ incoming: { port: 4000, secretToken: 'old-token' } }),
    })
    assert.deepEqual(config.accounts.h.link, {
      type: 'http',
      incoming: { port: 4000, host: null, auth: { kind: 'jwt', secret: 'old-secret', token: null } },
      outgoing: { url: 'http://127.0.0.1:5000/', auth: { kind: 'jwt', secret: 'out-old', expiryMs: 10000 }, http2: false, name: '4000', callbackUrl: null },
    })
    assert.deepEqual(config.accounts.k.link, {
      type: 'http', incoming: { port: 4000, host: null, auth: { kind: 'token', token: 'old-token' } }, outgoing: null,
    })
  })

  test('JWT expiry defaults to 30 s; incoming only or outgoing only; host and callbackUrl are ilpd options', () => {
    const { config, warnings } = load({
      a: http({ incoming: { port: 4000, host: '127.0.0.1', staticToken: 't' }, outgoing: { url: 'http://p/', jwtSecret: 's', callbackUrl: 'http://me.example:4000/callbacks' } }),
      b: http({ outgoing: { url: 'http://q/ilp' } }),
    })
    const a = config.accounts.a.link
    assert.ok(a.type === 'http' && a.incoming !== null && a.outgoing !== null)
    assert.equal(a.incoming.host, '127.0.0.1')
    assert.deepEqual(a.outgoing.auth, { kind: 'jwt', secret: 's', expiryMs: 30000 })
    assert.equal(a.outgoing.callbackUrl, 'http://me.example:4000/callbacks')
    assert.deepEqual(config.accounts.b.link, {
      type: 'http', incoming: null, outgoing: { url: 'http://q/ilp', auth: null, http2: false, name: null, callbackUrl: null },
    })
    assert.ok(warnings.some((w) => w.includes('account b') && w.includes('without an Authorization header')), warnings.join('\n'))
  })

  test('options the plugin has and ilpd does not act on are pointed out', () => {
    const { warnings } = load({
      h: http({ ildcp: { clientAddress: 'x' }, incoming: { port: 4000, staticToken: 't' }, outgoing: { url: 'http://p/', sendIlpDestination: true } }),
    })
    assert.ok(warnings.some((w) => w.includes('options.ildcp is ignored')), warnings.join('\n'))
    assert.ok(warnings.some((w) => w.includes('options.outgoing.sendIlpDestination is ignored')), warnings.join('\n'))
  })
})

describe('bad ilp-plugin-http options are config errors', () => {
  test('neither incoming nor outgoing', () => {
    assert.match(problemsOf({ h: http({}) }), /account h: options.incoming .* or options.outgoing .* is required for ilp-plugin-http/)
  })

  test('incoming without a credential, a bad port, an outgoing URL that is not http(s)', () => {
    assert.match(problemsOf({ h: http({ incoming: { port: 4000 } }) }), /account h: options.incoming needs staticToken or jwtSecret/)
    assert.match(problemsOf({ h: http({ incoming: { port: 70000, staticToken: 't' } }) }), /options.incoming.port must be at most 65535/)
    assert.match(problemsOf({ h: http({ outgoing: { url: 'ftp://x/' } }) }), /options.outgoing.url must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/x\/"/)
    assert.match(problemsOf({ h: http({ outgoing: { url: 'not a url' } }) }), /options.outgoing.url must be an http:\/\/ or https:\/\/ URL/)
    assert.match(problemsOf({ h: http({ outgoing: { url: 'http://x/', jwtSecret: 's', jwtExpiry: 500 } }) }), /options.outgoing.jwtExpiry must be at least 1000/)
  })

  test('a token a header cannot carry is refused without echoing it', () => {
    const message = problemsOf({ h: http({ incoming: { port: 4000, staticToken: 'two words' } }) })
    assert.match(message, /options.incoming.staticToken must be a string of visible ASCII characters/)
    assert.ok(!message.includes('two words'), message)
    assert.match(problemsOf({ h: http({ incoming: { port: 4000, jwtSecret: '' } }) }), /options.incoming.jwtSecret must be a non-empty string/)
  })

  test('multilateral mode is refused with what to do instead', () => {
    assert.match(problemsOf({ h: http({ multi: true, incoming: { port: 4000, staticToken: 't' }, outgoing: { url: 'http://x/%' } }) }),
      /options.multi .* is not supported; configure one ilp-plugin-http child account per peer/)
  })

  test('async mode (callbackUrl) needs an incoming port for the replies', () => {
    assert.match(problemsOf({ h: http({ outgoing: { url: 'http://x/', callbackUrl: 'http://me/cb' } }) }),
      /options.outgoing.callbackUrl .* needs options.incoming/)
  })

  test('accounts sharing a port: different credentials are fine, the same one is an error', () => {
    const { config } = load({
      a: http({ incoming: { port: 4000, staticToken: 'ta' } }),
      b: http({ incoming: { port: 4000, jwtSecret: 'sb' } }),
    })
    assert.deepEqual(Object.keys(config.accounts), ['a', 'b'])
    assert.match(problemsOf({ a: http({ incoming: { port: 4000, staticToken: 't' } }), b: http({ incoming: { port: 4000, staticToken: 't' } }) }),
      /account b: options.incoming.staticToken is the same as account a's on port 4000/)
    assert.match(problemsOf({ a: http({ incoming: { port: 4000, jwtSecret: 's' } }), b: http({ incoming: { port: 4000, secret: 's' } }) }),
      /account b: options.incoming.jwtSecret is the same as account a's on port 4000/)
    assert.match(problemsOf({ a: http({ incoming: { port: 4000, jwtSecret: 's', staticToken: 't' } }), b: http({ incoming: { port: 4000, staticToken: 't' } }) }),
      /account b: options.incoming.staticToken is the same as account a's/)
    // Same credential on different ports: each port is its own server.
    load({ a: http({ incoming: { port: 4000, staticToken: 't' } }), b: http({ incoming: { port: 4001, staticToken: 't' } }) })
  })

  test('a port shared with a BTP listener, with another bind host, or with the admin API', () => {
    const btp = { relation: 'child', plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, options: { listener: { port: 4000, secret: 's' } } }
    assert.match(problemsOf({ b: btp, h: http({ incoming: { port: 4000, staticToken: 't' } }) }),
      /account h: options.incoming.port 4000 is also the BTP listener port of account b/)
    assert.match(problemsOf({ a: http({ incoming: { port: 4000, staticToken: 'x' } }), b: http({ incoming: { port: 4000, host: '127.0.0.1', staticToken: 'y' } }) }),
      /accounts sharing a port must share incoming.host/)
    assert.match(problemsOf({ a: http({ incoming: { port: 7780, staticToken: 'x' } }) }, { CONNECTOR_ADMIN_API: 'true', CONNECTOR_ADMIN_API_PORT: '7780' }),
      /CONNECTOR_ADMIN_API_PORT: port 7780 is also the HTTP port of account a/)
  })
})

describe('HttpCallbackRegistry', () => {
  test('hands a reply to the account\'s sink, and says unknown when the account has none', () => {
    const registry = new HttpCallbackRegistry()
    const seen: string[] = []
    registry.register(3, { deliver: (id) => { seen.push(id); return seen.length === 1 ? 'accepted' : 'duplicate' } })
    assert.equal(registry.deliver(3, 'r1', new Uint8Array([1])), 'accepted')
    assert.equal(registry.deliver(3, 'r1', new Uint8Array([1])), 'duplicate')
    assert.equal(registry.deliver(4, 'r1', new Uint8Array([1])), 'unknown')
    registry.unregister(3)
    assert.equal(registry.deliver(3, 'r2', new Uint8Array([1])), 'unknown')
    assert.deepEqual(seen, ['r1', 'r1'])
  })
})
