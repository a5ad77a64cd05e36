/**
 * Wrong configurations, each with one mistake, and the words the one resulting problem line must
 * contain (the variable or file, the account, the field, the value). Shared by the in-process
 * test (test/unit/config/bad-configs.test.ts) and the CLI test (test/integration/bad-config.test.ts),
 * so every case is proven both as a ConfigError and as one line on stderr with exit 1.
 */

/** A valid BTP listener account on `port` (loopback). */
export function goodAccount(port: number, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    relation: 'child',
    plugin: 'ilp-plugin-btp',
    assetCode: 'USD',
    assetScale: 9,
    options: { listener: { port, secret: `secret-${port}`, wsOpts: { host: '127.0.0.1', port } } },
    ...fields,
  }
}

export interface BadConfig {
  name: string
  /** On top of BASE_ENV; `undefined` removes a base variable. */
  env: Record<string, string | undefined>
  /** Written to a temp file and passed with --config: an object as JSON, a string as it is. */
  file?: unknown
  /** Every string must appear in the single problem line. */
  expect: string[]
}

/** What every case starts from: a valid configuration. */
export const BASE_ENV: Record<string, string> = {
  CONNECTOR_STORE: 'memory',
  CONNECTOR_WORKERS: '1',
  CONNECTOR_ILP_ADDRESS: 'test.ilpd',
  CONNECTOR_ACCOUNTS: JSON.stringify({ ok: goodAccount(41000) }),
}

const accounts = (a: Record<string, unknown>): string => JSON.stringify(a)
const withOk = (a: Record<string, unknown>): string => accounts({ ok: goodAccount(41000), ...a })
const listener = (port: unknown, secret: unknown = 's'): Record<string, unknown> => ({ options: { listener: { port, secret } } })

export const BAD_CONFIGS: BadConfig[] = [
  // CONNECTOR_ACCOUNTS as a whole
  { name: 'CONNECTOR_ACCOUNTS is not JSON', env: { CONNECTOR_ACCOUNTS: '{alice:' }, expect: ['CONNECTOR_ACCOUNTS', 'not valid JSON'] },
  { name: 'CONNECTOR_ACCOUNTS is an array', env: { CONNECTOR_ACCOUNTS: '[]' }, expect: ['CONNECTOR_ACCOUNTS', 'must be a JSON object, got an array'] },
  { name: 'CONNECTOR_ACCOUNTS is missing while other variables are set', env: { CONNECTOR_ACCOUNTS: undefined }, expect: ['CONNECTOR_ACCOUNTS', 'is not set'] },
  { name: 'CONNECTOR_ACCOUNTS is empty', env: { CONNECTOR_ACCOUNTS: '' }, expect: ['CONNECTOR_ACCOUNTS', 'is empty'] },
  { name: 'CONNECTOR_ACCOUNTS misspelled', env: { CONNECTOR_ACCOUNTS: undefined, CONNECTOR_ACOUNTS: withOk({}) }, expect: ['CONNECTOR_ACOUNTS is not a setting; did you mean CONNECTOR_ACCOUNTS?'] },
  { name: 'an unknown CONNECTOR_* variable', env: { CONNECTOR_SPRAED: '0' }, expect: ['CONNECTOR_SPRAED', 'did you mean CONNECTOR_SPREAD?'] },
  { name: 'a variable with a misspelled prefix', env: { CONECTOR_SPREAD: '0' }, expect: ['CONECTOR_SPREAD', 'did you mean CONNECTOR_SPREAD?'] },

  // one account's fields
  { name: 'an account that is not an object', env: { CONNECTOR_ACCOUNTS: withOk({ bob: 5 }) }, expect: ['CONNECTOR_ACCOUNTS', 'account bob', 'must be an object', 'got 5'] },
  { name: 'assetScale of the wrong type', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { assetScale: 'nine' }) }) }, expect: ['account bob', 'assetScale', '"nine"'] },
  { name: 'assetScale out of range', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { assetScale: 256 }) }) }, expect: ['account bob', 'assetScale', 'at most 255'] },
  { name: 'an unknown relation', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { relation: 'cousin' }) }) }, expect: ['account bob', 'relation', '"cousin"'] },
  { name: 'a missing relation', env: { CONNECTOR_ACCOUNTS: withOk({ bob: { plugin: 'ilp-plugin-btp', assetCode: 'USD', assetScale: 9, ...listener(41001) } }) }, expect: ['account bob', 'relation is required'] },
  { name: 'an unknown account field', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { maxPacketAmmount: '10' }) }) }, expect: ['account bob', 'unknown field "maxPacketAmmount"'] },
  { name: 'balance.maximum a decimal', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { balance: { maximum: '12.5' } }) }) }, expect: ['account bob', 'balance.maximum', '"12.5"'] },
  { name: 'balance.maximum a number', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { balance: { maximum: 1000 } }) }) }, expect: ['account bob', 'balance.maximum', 'got 1000'] },
  { name: 'balance.minimum above balance.maximum', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { balance: { minimum: '10', maximum: '5' } }) }) }, expect: ['account bob', 'balance.minimum "10" is above balance.maximum "5"'] },
  { name: 'maxPacketAmount above uint64', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { maxPacketAmount: '18446744073709551616' }) }) }, expect: ['account bob', 'maxPacketAmount', 'at most 18446744073709551615'] },
  { name: 'throughput amount above uint64', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { throughput: { incomingAmount: '99999999999999999999999' } }) }) }, expect: ['account bob', 'throughput.incomingAmount', 'at most 18446744073709551615'] },
  { name: 'rateLimit.refillPeriod longer than a timer', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { rateLimit: { refillPeriod: 1e12 } }) }) }, expect: ['account bob', 'rateLimit.refillPeriod', 'at most 2147483647'] },
  { name: 'rateLimit capacity × refillPeriod past 2^53', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { rateLimit: { capacity: 2 ** 50, refillPeriod: 60000 } }) }) }, expect: ['account bob', 'rateLimit', 'capacity'] },
  { name: 'deduplicate.packetLifetime zero', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { deduplicate: { packetLifetime: 0 } }) }) }, expect: ['account bob', 'deduplicate.packetLifetime', 'at least 1'] },
  { name: 'an unsupported plugin', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { plugin: 'ilp-plugin-xrp-paychan' }) }) }, expect: ['account bob', 'plugin', '"ilp-plugin-xrp-paychan"'] },
  { name: 'an account id with a dot', env: { CONNECTOR_ACCOUNTS: withOk({ 'bob.smith': goodAccount(41001) }) }, expect: ['account bob.smith', 'account id', 'contains "."'] },
  { name: 'the account id __proto__', env: { CONNECTOR_ACCOUNTS: '{"__proto__":' + JSON.stringify(goodAccount(41001)) + '}' }, expect: ['account __proto__', 'reserved'] },
  { name: 'ilpAddressSegment with a dot', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { ilpAddressSegment: 'a.b' }) }) }, expect: ['account bob', 'ilpAddressSegment', '"a.b"'] },
  { name: 'two children with the same address', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { ilpAddressSegment: 'ok' }) }) }, expect: ['account bob', 'ilpAddressSegment "ok" is also the address of account ok'] },
  { name: 'a child address past 1023 bytes', env: { CONNECTOR_ILP_ADDRESS: 'test.' + 'a'.repeat(900), CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { ilpAddressSegment: 'b'.repeat(200) }) }) }, expect: ['account bob', '1106 bytes long', 'ilpAddressSegment'] },

  // BTP options
  { name: 'a listener port below 1', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, listener(-1)) }) }, expect: ['account bob', 'options.listener.port', 'at least 1', 'got -1'] },
  { name: 'a listener port above 65535', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, listener(70000)) }) }, expect: ['account bob', 'options.listener.port', 'at most 65535'] },
  { name: 'a listener port as a string', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, listener('7001')) }) }, expect: ['account bob', 'options.listener.port', 'must be a number', '"7001"'] },
  { name: 'a listener without a secret', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { options: { listener: { port: 41001 } } }) }) }, expect: ['account bob', 'options.listener.secret is required'] },
  { name: 'two listeners on one port with the same secret', env: { CONNECTOR_ACCOUNTS: accounts({ a: goodAccount(41001, listener(41001, 'same')), b: goodAccount(41001, listener(41001, 'same')) }) }, expect: ['account b', 'options.listener.secret is the same as account a\'s on port 41001'] },
  { name: 'two listeners on one port, different hosts', env: { CONNECTOR_ACCOUNTS: accounts({ a: goodAccount(41001), b: goodAccount(41001, listener(41001, 'other')) }) }, expect: ['account b', 'binds port 41001 on all interfaces', 'account a binds it on 127.0.0.1'] },
  { name: 'both listener and server', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { options: { listener: { port: 41001, secret: 's' }, server: 'btp+ws://a:b@h:1' } }) }) }, expect: ['account bob', 'options has both listener and server'] },
  { name: 'neither listener nor server', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { options: {} }) }) }, expect: ['account bob', 'options.listener', 'or options.server', 'is required'] },
  { name: 'options.server without btp+', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { options: { server: 'ws://u:topsecret@host:1' } }) }) }, expect: ['account bob', 'options.server must start with "btp+ws://"'] },
  { name: 'options.server with port 0', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { options: { server: 'btp+ws://u:topsecret@host:0' } }) }) }, expect: ['account bob', 'options.server has port 0'] },
  { name: 'options.server with a port past 65535', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { options: { server: 'btp+ws://u:topsecret@host:99999' } }) }) }, expect: ['account bob', 'options.server is not a valid URL'] },
  { name: 'options.server not a string', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { options: { server: 5 } }) }) }, expect: ['account bob', 'options.server', 'must be a string', 'got 5'] },
  { name: 'responseTimeout negative', env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { options: { listener: { port: 41001, secret: 's' }, responseTimeout: -5 } }) }) }, expect: ['account bob', 'options.responseTimeout', 'at least'] },

  // routes and addresses
  // This one used to pass the schema and crash the route table build with a stack trace.
  {
    name: 'a route prefix with an empty segment (g..x)',
    env: { CONNECTOR_ACCOUNTS: withOk({ bob: goodAccount(41001, { relation: 'peer' }) }), CONNECTOR_ROUTES: '[{"targetPrefix":"g..x","peerId":"bob"}]' },
    expect: ['CONNECTOR_ROUTES: [0].targetPrefix must be an ILP address prefix', 'has an empty segment (two dots in a row), got "g..x"'],
  },
  { name: 'a route prefix with a leading dot', env: { CONNECTOR_ROUTES: '[{"targetPrefix":".g","peerId":"ok"}]' }, expect: ['CONNECTOR_ROUTES', '[0].targetPrefix', 'starts with a dot'] },
  { name: 'a route prefix with a trailing dot', env: { CONNECTOR_ROUTES: '[{"targetPrefix":"g.","peerId":"ok"}]' }, expect: ['CONNECTOR_ROUTES', '[0].targetPrefix', 'ends with a dot'] },
  { name: 'a route prefix past 1023 bytes', env: { CONNECTOR_ROUTES: JSON.stringify([{ targetPrefix: 'g.' + 'a'.repeat(1100), peerId: 'ok' }]) }, expect: ['CONNECTOR_ROUTES', '[0].targetPrefix', '1102 bytes long'] },
  { name: 'CONNECTOR_ROUTES an object', env: { CONNECTOR_ROUTES: '{"targetPrefix":"g.x"}' }, expect: ['CONNECTOR_ROUTES', 'must be a JSON array'] },
  { name: 'a route to no account', env: { CONNECTOR_ROUTES: '[{"targetPrefix":"test.x","peerId":"nobody"}]' }, expect: ['CONNECTOR_ROUTES', '[0].peerId "nobody" is not an account'] },
  { name: 'a route without peerId', env: { CONNECTOR_ROUTES: '[{"targetPrefix":"test.x"}]' }, expect: ['CONNECTOR_ROUTES', '[0].peerId is required'] },
  { name: 'CONNECTOR_ILP_ADDRESS with an empty segment', env: { CONNECTOR_ILP_ADDRESS: 'g..x' }, expect: ['CONNECTOR_ILP_ADDRESS', 'empty segment', '"g..x"'] },
  { name: 'CONNECTOR_ILP_ADDRESS without a scheme', env: { CONNECTOR_ILP_ADDRESS: 'acme.connector' }, expect: ['CONNECTOR_ILP_ADDRESS', 'not an RFC 15 scheme'] },
  { name: 'CONNECTOR_ILP_ADDRESS only a scheme', env: { CONNECTOR_ILP_ADDRESS: 'g' }, expect: ['CONNECTOR_ILP_ADDRESS', 'only the scheme "g"'] },
  { name: 'CONNECTOR_DEFAULT_ROUTE to no account', env: { CONNECTOR_DEFAULT_ROUTE: 'nobody' }, expect: ['CONNECTOR_DEFAULT_ROUTE', '"nobody"'] },
  { name: 'CONNECTOR_ILP_ADDRESS_INHERIT_FROM a child', env: { CONNECTOR_ILP_ADDRESS_INHERIT_FROM: 'ok' }, expect: ['CONNECTOR_ILP_ADDRESS_INHERIT_FROM', 'account ok is not a parent'] },

  // numbers, booleans, enums
  { name: 'CONNECTOR_SPREAD not a number', env: { CONNECTOR_SPREAD: 'a lot' }, expect: ['CONNECTOR_SPREAD', '"a lot"'] },
  { name: 'CONNECTOR_SPREAD 1 or more', env: { CONNECTOR_SPREAD: '1.5' }, expect: ['CONNECTOR_SPREAD', 'less than 1', '1.5'] },
  { name: 'CONNECTOR_SPREAD negative', env: { CONNECTOR_SPREAD: '-0.1' }, expect: ['CONNECTOR_SPREAD', 'at least 0'] },
  { name: 'CONNECTOR_SPREAD infinite', env: { CONNECTOR_SPREAD: '1e400' }, expect: ['CONNECTOR_SPREAD', 'finite', '"1e400"'] },
  { name: 'CONNECTOR_MAX_HOLD_TIME past 2^53', env: { CONNECTOR_MAX_HOLD_TIME: '99999999999999999999' }, expect: ['CONNECTOR_MAX_HOLD_TIME', 'below 2^53'] },
  { name: 'CONNECTOR_ROUTE_BROADCAST_INTERVAL longer than a timer', env: { CONNECTOR_ROUTE_BROADCAST_INTERVAL: '9999999999' }, expect: ['CONNECTOR_ROUTE_BROADCAST_INTERVAL', 'at most 2147483647 ms'] },
  { name: 'CONNECTOR_MIN_MESSAGE_WINDOW negative', env: { CONNECTOR_MIN_MESSAGE_WINDOW: '-1' }, expect: ['CONNECTOR_MIN_MESSAGE_WINDOW', 'at least 0'] },
  { name: 'CONNECTOR_WORKERS not a number', env: { CONNECTOR_WORKERS: 'many' }, expect: ['CONNECTOR_WORKERS', '"many"'] },
  { name: 'CONNECTOR_WORKERS zero', env: { CONNECTOR_WORKERS: '0' }, expect: ['CONNECTOR_WORKERS', 'at least 1'] },
  { name: 'CONNECTOR_WORKERS huge', env: { CONNECTOR_WORKERS: '100000' }, expect: ['CONNECTOR_WORKERS', 'at most 128'] },
  { name: 'CONNECTOR_ADMIN_API not a boolean', env: { CONNECTOR_ADMIN_API: 'yes' }, expect: ['CONNECTOR_ADMIN_API', 'true or false', '"yes"'] },
  { name: 'CONNECTOR_ADMIN_API_PORT above 65535', env: { CONNECTOR_ADMIN_API_PORT: '70000' }, expect: ['CONNECTOR_ADMIN_API_PORT', 'at most 65535'] },
  { name: 'CONNECTOR_ADMIN_API_PORT negative', env: { CONNECTOR_ADMIN_API_PORT: '-1' }, expect: ['CONNECTOR_ADMIN_API_PORT', 'at least 0'] },
  { name: 'the admin API on a BTP port', env: { CONNECTOR_ADMIN_API: 'true', CONNECTOR_ADMIN_API_PORT: '41000' }, expect: ['CONNECTOR_ADMIN_API_PORT', 'port 41000 is also the BTP port of account ok'] },
  { name: 'the settlement API on a BTP port', env: { CONNECTOR_ACCOUNTS: accounts({ ok: goodAccount(41000, { settlementEngine: 'http://127.0.0.1:41009' }) }), CONNECTOR_SETTLEMENT_API_PORT: '41000' }, expect: ['CONNECTOR_SETTLEMENT_API_PORT', 'port 41000 is also the BTP port of account ok', 'CONNECTOR_ACCOUNTS: options.listener.port'] },
  { name: 'the settlement API on an HTTP port', env: { CONNECTOR_ACCOUNTS: withOk({ h: { relation: 'child', plugin: 'ilp-plugin-http', assetCode: 'USD', assetScale: 9, settlementEngine: 'http://127.0.0.1:41009', options: { incoming: { port: 41002, staticToken: 'tok' } } } }), CONNECTOR_SETTLEMENT_API_PORT: '41002' }, expect: ['CONNECTOR_SETTLEMENT_API_PORT', 'port 41002 is also the HTTP port of account h', 'options.incoming.port'] },
  { name: 'the settlement API on the admin API\'s port', env: { CONNECTOR_ACCOUNTS: accounts({ ok: goodAccount(41000, { settlementEngine: 'http://127.0.0.1:41009' }) }), CONNECTOR_ADMIN_API: 'true', CONNECTOR_ADMIN_API_PORT: '41003', CONNECTOR_SETTLEMENT_API_PORT: '41003' }, expect: ['CONNECTOR_SETTLEMENT_API_PORT', 'port 41003 is also CONNECTOR_ADMIN_API_PORT', 'account ok\'s settlementEngine'] },
  { name: 'the admin API beyond loopback without a token', env: { CONNECTOR_ADMIN_API: 'true', CONNECTOR_ADMIN_API_HOST: '0.0.0.0' }, expect: ['CONNECTOR_ADMIN_API_HOST', '"0.0.0.0" is not a loopback address', 'CONNECTOR_ADMIN_API_TOKEN is not set'] },
  { name: 'the admin API on :: with an empty token', env: { CONNECTOR_ADMIN_API: 'true', CONNECTOR_ADMIN_API_HOST: '::', CONNECTOR_ADMIN_API_TOKEN: '' }, expect: ['CONNECTOR_ADMIN_API_HOST', '"::" is not a loopback address', 'CONNECTOR_ADMIN_API_TOKEN is empty'] },
  { name: 'CONNECTOR_ADMIN_API_TOKEN with a space', env: { CONNECTOR_ADMIN_API_TOKEN: 'two words' }, expect: ['CONNECTOR_ADMIN_API_TOKEN', 'printable ASCII without spaces'] },
  { name: 'CONNECTOR_ENV neither test nor production', env: { CONNECTOR_ENV: 'staging' }, expect: ['CONNECTOR_ENV', '"staging"'] },
  { name: 'CONNECTOR_DURABILITY unknown', env: { CONNECTOR_DURABILITY: 'sometimes' }, expect: ['CONNECTOR_DURABILITY', '"durable", "process", "relaxed"'] },
  { name: 'CONNECTOR_STORE a module', env: { CONNECTOR_STORE: 'ilp-store-redis' }, expect: ['CONNECTOR_STORE', '"ilp-store-redis"'] },
  { name: 'CONNECTOR_DISABLE_MIDDLEWARE misspelled', env: { CONNECTOR_DISABLE_MIDDLEWARE: '["balanc"]' }, expect: ['CONNECTOR_DISABLE_MIDDLEWARE', '[0]', '"balanc"'] },

  // exchange rates
  { name: 'an online backend', env: { CONNECTOR_BACKEND: 'ecb' }, expect: ['CONNECTOR_BACKEND', 'downloads exchange rates'] },
  { name: 'static rates missing', env: { CONNECTOR_BACKEND: 'static', CONNECTOR_BACKEND_CONFIG: '{}' }, expect: ['CONNECTOR_BACKEND_CONFIG', 'rates is required'] },
  { name: 'a static rate that is a string', env: { CONNECTOR_BACKEND: 'static', CONNECTOR_BACKEND_CONFIG: '{"rates":{"USD":"one"}}' }, expect: ['CONNECTOR_BACKEND_CONFIG', 'rates.USD', '"one"'] },
  { name: 'a static rate that is negative', env: { CONNECTOR_BACKEND: 'static', CONNECTOR_BACKEND_CONFIG: '{"rates":{"USD":-1}}' }, expect: ['CONNECTOR_BACKEND_CONFIG', 'rates.USD', 'more than 0'] },
  { name: 'static rates as an array', env: { CONNECTOR_BACKEND: 'static', CONNECTOR_BACKEND_CONFIG: '{"rates":[1]}' }, expect: ['CONNECTOR_BACKEND_CONFIG', 'rates', 'must be an object'] },
  { name: 'static rates missing an account\'s asset', env: { CONNECTOR_BACKEND: 'static', CONNECTOR_BACKEND_CONFIG: '{"rates":{"EUR":1}}' }, expect: ['CONNECTOR_BACKEND_CONFIG', 'no entry for "USD"', 'account ok'] },
  { name: 'ecb mockData rates not an object', env: { CONNECTOR_BACKEND: 'ecb', CONNECTOR_BACKEND_CONFIG: '{"mockData":{"base":"EUR","rates":5}}' }, expect: ['CONNECTOR_BACKEND_CONFIG', 'mockData must be'] },

  // ilpd's hardening settings
  { name: 'CONNECTOR_MAX_PACKETS_IN_FLIGHT_PER_ACCOUNT zero', env: { CONNECTOR_MAX_PACKETS_IN_FLIGHT_PER_ACCOUNT: '0' }, expect: ['CONNECTOR_MAX_PACKETS_IN_FLIGHT_PER_ACCOUNT', 'at least 1'] },
  { name: 'CONNECTOR_MAX_CONNECTIONS_PER_ACCOUNT a decimal', env: { CONNECTOR_MAX_CONNECTIONS_PER_ACCOUNT: '1.5' }, expect: ['CONNECTOR_MAX_CONNECTIONS_PER_ACCOUNT', 'whole number'] },
  { name: 'CONNECTOR_LINK_CLOSE_BYTES not above the pause', env: { CONNECTOR_LINK_PAUSE_BYTES: '1000', CONNECTOR_LINK_CLOSE_BYTES: '1000' }, expect: ['CONNECTOR_LINK_CLOSE_BYTES', 'more than CONNECTOR_LINK_PAUSE_BYTES (1000)'] },
  { name: 'CONNECTOR_LINK_PAUSE_BYTES above the default close', env: { CONNECTOR_LINK_PAUSE_BYTES: '20000000' }, expect: ['CONNECTOR_LINK_PAUSE_BYTES', 'less than CONNECTOR_LINK_CLOSE_BYTES (16777216, the default)'] },
  { name: 'CONNECTOR_LINK_STALL_TIMEOUT zero', env: { CONNECTOR_LINK_STALL_TIMEOUT: '0' }, expect: ['CONNECTOR_LINK_STALL_TIMEOUT', 'at least 1'] },
  { name: 'CONNECTOR_SHUTDOWN_GRACE negative', env: { CONNECTOR_SHUTDOWN_GRACE: '-1' }, expect: ['CONNECTOR_SHUTDOWN_GRACE', 'at least 0'] },

  // the --config file
  { name: 'a config file that is not JSON', env: {}, file: '{"spread": ', expect: ['ilpd.json', 'not valid JSON'] },
  { name: 'a config file that is an array', env: {}, file: [], expect: ['ilpd.json', 'must hold a JSON object'] },
  { name: 'a config file with a misspelled key', env: { CONNECTOR_ACCOUNTS: undefined }, file: { acounts: {} }, expect: ['ilpd.json', '"acounts" is not a setting; did you mean "accounts"?'] },
  { name: 'a config file value of the wrong type', env: {}, file: { spread: '0.1' }, expect: ['ilpd.json: spread', 'must be a number', '"0.1"'] },
  { name: 'a config file with an infinite number', env: {}, file: '{"spread": 1e400}', expect: ['ilpd.json: spread', 'Infinity'] },
]
