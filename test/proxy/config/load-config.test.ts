import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConfigError } from '../../../src/core/errors.js';
import { checkConfig, formatConfigReport, loadConfig, type LoadConfigOptions } from '../../../src/proxy/config/index.js';
import { tempDir } from '../../fixtures/cleanup.js';

const SAMPLE = fileURLToPath(new URL('../../fixtures/reference/sample-conf.yaml', import.meta.url));
const HOME = '/srv/operator';
const base = (extra: Partial<LoadConfigOptions> = {}): LoadConfigOptions => ({
  env: { HOME },
  home: HOME,
  fileExists: () => true,
  ...extra,
});
const minimal = 'listenaddr: "localhost:8081"\nauthenticator:\n  backend: dev\n';

function issuesOf(text: string, extra: Partial<LoadConfigOptions> = {}): Map<string, string> {
  try {
    loadConfig(base({ text, ...extra }));
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'L402_ERR_CONFIG_INVALID');
    return new Map(err.issues.map((i) => [i.path, i.message]));
  }
  assert.fail('expected a ConfigError');
}

test('the reference sample config passes --check-config unchanged, with each expected warning named', () => {
  const report = checkConfig({ configFile: SAMPLE, env: { HOME }, home: HOME });
  assert.equal(report.ok, true, formatConfigReport(report));
  const got = report.warnings.map((w) => `${w.kind} ${w.path}`).sort();
  assert.deepEqual(got, [
    'address services[1].address',
    'address services[2].address',
    'behaviour-change services[1].protocol',
    'behaviour-change services[2].protocol',
    'conflict authenticator.passphrase',
    'ignored configfile',
    'missing-file authenticator.macdir',
    'missing-file authenticator.tlspath',
    'missing-file services[0].dynamicprice.tlscertpath',
    'missing-file services[0].tlscertpath',
    'not-built etcd.host',
    'not-built etcd.password',
    'not-built etcd.user',
    'not-built logging.console.style',
    'not-built logging.file',
    'not-built profile',
    'not-built tor',
    'not-built tor.listenport',
    'not-built tor.virtualport',
    'unknown-key services[2].dynamicprice.enbled',
  ]);
  const typo = report.warnings.find((w) => w.kind === 'unknown-key');
  assert.equal(typo?.suggestion, 'enabled');
  assert.equal(typo?.line, 323);
  const c = report.config;
  assert.ok(c);
  assert.equal(c.listenAddr, 'localhost:8081');
  assert.equal(c.baseDir, '/path/to/.aperture');
  assert.equal(c.postgres.requireSsl, true, 'requireSSL is read case-insensitively');
  assert.equal(c.authenticator.backend, 'lnd');
  assert.equal(c.authenticator.network, 'simnet');
  assert.equal(c.hashmail.messageRateMs, 20);
  assert.equal(c.hashmail.staleTimeoutMs, -1000);
  assert.deepEqual(
    c.services.map((s) => s.name),
    ['service1', 'service2', 'service3'],
  );
  const [s1, s2, s3] = c.services;
  assert.ok(s1 && s2 && s3);
  assert.deepEqual(s1.capabilities, ['add', 'subtract']);
  assert.deepEqual(s1.constraints, { valid_until: '1682483169' });
  assert.equal(s1.timeoutSeconds, 31557600);
  assert.equal(s1.dynamicPrice.enabled, true);
  assert.deepEqual(
    s1.rateLimits.map((r) => [r.requests, r.perMs, r.burst]),
    [
      [5, 1000, 100],
      [2, 1000, 2],
    ],
  );
  assert.equal(s1.rateLimits[0]?.pathRegexp?.regexp.test('/looprpc.SwapServer/LoopOutTerms'), true);
  assert.equal(s1.authWhitelistPaths[0]?.regexp.test('/freebieservice/x'), true);
  assert.equal(s1.hostRegexp.regexp.test('service1.com'), true);
  assert.equal(s1.hostRegexp.regexp.test('xservice1.com'), false);
  assert.equal(s2.price, 1);
  assert.equal(s3.dynamicPrice.enabled, false, 'the misspelt "enbled" does not enable it');
  assert.equal(s3.price, 1, 'no price = the reference default of 1 sat');
  assert.deepEqual(
    c.blocklist.map((b) => `${b.address}/${b.prefixLength}`),
    ['1.1.1.1/32', '1.0.0.1/32'],
  );
  assert.match(formatConfigReport(report), /OK: configuration is valid \(3 services, 20 warnings\)/);
});

test('a config with many mistakes lists every one at once, each with its path', () => {
  const text = `
listenaddr: "localhost:99999"
idletimeout: 5
readtimeout: 15 seconds
invoicebatchsize: 0
debuglevel: loud
dbbackend: mongo
blocklist: ["1.2.3.4", "not-an-ip", "10.0.0.0/33"]
authenticator:
  lndhost: "localhost:10009"
challengeform: fancy
ratelimitstore: { backend: redis }
services:
  - name: a
    hostregexp: '(unclosed'
    address: "127.0.0.1:1"
    price: -5
  - name: a
    address: "127.0.0.1:2"
    auth: "freebie lots"
    protocol: gopher
    timeout: soon
    authwhitelistpaths: ['^/ok$', '(?=look)']
    headers:
      X-Key: "\${DEFINITELY_NOT_SET_VAR}"
      X-Mac: "!file+hex:/nonexistent/admin.macaroon"
    rewrite: { prefix: "http://evil/x" }
    ratelimits:
      - requests: 0
        per: 1
      - pathregexp: '^/x'
        requests: 1
  - hostregexp: x
    address: "127.0.0.1:3"
    dynamicprice: { enabled: true }
    authscheme: mpp
`;
  const issues = issuesOf(text);
  for (const path of [
    'listenaddr',
    'idletimeout',
    'readtimeout',
    'invoicebatchsize',
    'debuglevel',
    'dbbackend',
    'blocklist[1]',
    'blocklist[2]',
    'authenticator.tlspath',
    'authenticator.macdir',
    'challengeform',
    'ratelimitstore.redisurl',
    'services[0].hostregexp',
    'services[0].price',
    'services[1].name',
    'services[1].auth',
    'services[1].protocol',
    'services[1].timeout',
    'services[1].authwhitelistpaths[1]',
    'services[1].headers.X-Key',
    'services[1].headers.X-Mac',
    'services[1].rewrite.prefix',
    'services[1].ratelimits[0].requests',
    'services[1].ratelimits[0].per',
    'services[1].ratelimits[1].per',
    'services[2].name',
    'services[2].dynamicprice.grpcaddress',
    'services[2].dynamicprice.tlscertpath',
    'services[2].authscheme',
  ]) {
    assert.ok(issues.has(path), `missing issue at ${path}; got:\n${[...issues].map(([p, m]) => `${p}: ${m}`).join('\n')}`);
  }
  assert.match(issues.get('services[1].name') ?? '', /duplicate service name "a" \(also services\[0\]\)/);
  assert.match(issues.get('services[1].headers.X-Key') ?? '', /DEFINITELY_NOT_SET_VAR/);
  assert.match(issues.get('services[1].headers.X-Mac') ?? '', /does not exist/);
  assert.match(issues.get('idletimeout') ?? '', /needs a unit/);
});

test('defaults follow the reference', () => {
  const { config, warnings } = loadConfig(base({ text: minimal }));
  assert.deepEqual(warnings, []);
  assert.equal(config.baseDir, `${HOME}/.aperture`);
  assert.equal(config.configFile, `${HOME}/.aperture/aperture.yaml`);
  assert.equal(config.sqlite.dbFile, `${HOME}/.aperture/aperture.db`);
  assert.equal(config.tlsCertPath, `${HOME}/.aperture/tls.cert`);
  assert.equal(config.idleTimeoutMs, 120_000);
  assert.equal(config.readTimeoutMs, 15_000);
  assert.equal(config.writeTimeoutMs, 30_000);
  assert.equal(config.dbBackend, 'sqlite');
  assert.equal(config.invoiceBatchSize, 100_000);
  assert.equal(config.strictVerify, false);
  assert.equal(config.debugLevel, 'info');
  assert.equal(config.challengeForm, 'reference');
  assert.equal(config.authenticator.mailboxAddress, 'mailbox.terminal.lightning.today:443');
  assert.equal(config.authenticator.sessionDepositMultiplier, 20);
  assert.deepEqual(config.rateLimitStore, { backend: 'memory', redisUrl: undefined, onStoreError: 'allow' });
  assert.equal(config.freebieWindowMs, 86_400_000);
  assert.equal(config.upstreamTimeoutMs, 60_000);
  assert.deepEqual(config.services, []);
});

test('the file is found under --basedir, flags win over the file, and --configfile must exist', (t) => {
  const dir = tempDir('aperture-conf-', t);
  writeFileSync(join(dir, 'aperture.yaml'), `${minimal}readtimeout: 20s\n`);
  const { config } = loadConfig(
    base({ baseDir: dir, overrides: { listenaddr: '127.0.0.1:9000', 'authenticator.network': 'regtest', strictverify: 'true' } }),
  );
  assert.equal(config.configFileFound, true);
  assert.equal(config.readTimeoutMs, 20_000);
  assert.equal(config.listenAddr, '127.0.0.1:9000');
  assert.equal(config.authenticator.network, 'regtest');
  assert.equal(config.strictVerify, true);
  assert.equal(config.sqlite.dbFile, join(dir, 'aperture.db'));
  const missing = issuesOf('', { text: undefined as unknown as string, configFile: join(dir, 'nope.yaml') } as Partial<LoadConfigOptions>);
  assert.match(missing.get('configfile') ?? '', /does not exist/);
  // An absent default file is fine: flags alone can configure aperture.
  const { config: flagsOnly } = loadConfig(
    base({ baseDir: join(dir, 'empty'), overrides: { listenaddr: ':8081', 'authenticator.disable': true } }),
  );
  assert.equal(flagsOnly.configFileFound, false);
  assert.equal(flagsOnly.authenticator.backend, 'none');
});

test('Go durations are parsed exactly; numbers and bad strings are issues', () => {
  const table: [string, number][] = [
    ['2m', 120_000],
    ['15s', 15_000],
    ['20ms', 20],
    ['1h30m', 5_400_000],
    ['-1s', -1000],
    ['1.5h', 5_400_000],
    ['500us', 0.5],
    ['500µs', 0.5],
    ['1000000ns', 1],
    ['0', 0],
  ];
  for (const [text, ms] of table) {
    const { config } = loadConfig(base({ text: `${minimal}hashmail: { staletimeout: "${text}" }\n` }));
    assert.equal(config.hashmail.staleTimeoutMs, ms, text);
  }
  for (const bad of ['15', '"1x"', '"s"', '"1.s.s"', 'true', '[1]']) {
    const issues = issuesOf(`${minimal}readtimeout: ${bad}\n`);
    assert.ok(issues.has('readtimeout'), bad);
  }
  assert.ok(issuesOf(`${minimal}readtimeout: -1s\n`).has('readtimeout'), 'negative timeouts are refused');
});

test('headers: ${ENV}, !file+hex: and !file+base64: are resolved at load time', (t) => {
  const dir = tempDir('aperture-hdr-', t);
  const file = join(dir, 'mac.bin');
  writeFileSync(file, Buffer.from([0x02, 0x01, 0xff]));
  const text = `${minimal}services:
  - name: s
    address: "127.0.0.1:8080"
    headers:
      Authorization: "Bearer \${API_TOKEN}"
      Grpc-Metadata-Macaroon: "!file+hex:${file}"
      X-B64: "!file+base64:mac.bin"
      X-Number: 42
`;
  const { config } = loadConfig(base({ text, env: { HOME, API_TOKEN: 's3cret' }, cwd: dir }));
  assert.deepEqual(config.services[0]?.headers, {
    Authorization: 'Bearer s3cret',
    'Grpc-Metadata-Macaroon': '0201ff',
    'X-B64': 'AgH/',
    'X-Number': '42',
  });
  const issues = issuesOf(text.replace('base64:mac.bin"', 'base64:gone.bin"'), { env: { HOME, API_TOKEN: '' }, cwd: dir });
  assert.match(issues.get('services[0].headers.Authorization') ?? '', /API_TOKEN/);
  assert.match(issues.get('services[0].headers.X-B64') ?? '', /gone\.bin.*does not exist/);
  const prefix = issuesOf(`${minimal}services: [{ name: s, address: "h:1", headers: { X: "!file+oct:/x" } }]\n`);
  assert.match(prefix.get('services[0].headers.X') ?? '', /unsupported file prefix/);
});

test('auth forms: on / empty / true, off / false, freebie N', () => {
  const forms: [string, unknown][] = [
    ['on', { mode: 'on' }],
    ['""', { mode: 'on' }],
    ['true', { mode: 'on' }],
    ['"ON"', { mode: 'on' }],
    ['off', { mode: 'off' }],
    ['false', { mode: 'off' }],
    ['"freebie 5"', { mode: 'freebie', count: 5 }],
    ['"FREEBIE 0"', { mode: 'freebie', count: 0 }],
  ];
  for (const [yaml, expected] of forms) {
    const { config } = loadConfig(base({ text: `${minimal}services: [{ name: s, address: "h:1", auth: ${yaml} }]\n` }));
    assert.deepEqual(config.services[0]?.auth, expected, yaml);
  }
  for (const bad of ['"freebie"', '"freebie  5"', '"freebie -1"', 'maybe', '[on]']) {
    assert.ok(issuesOf(`${minimal}services: [{ name: s, address: "h:1", auth: ${bad} }]\n`).has('services[0].auth'), bad);
  }
});

test('keys are case-insensitive; keys that repeat in another case are an issue', () => {
  const { config } = loadConfig(
    base({ text: 'ListenAddr: "localhost:1"\nAuthenticator: { Backend: dev }\nPostgres: { requireSSL: yes }\n' }),
  );
  assert.equal(config.listenAddr, 'localhost:1');
  assert.equal(config.postgres.requireSsl, true);
  const issues = issuesOf(`${minimal}services: [{ name: s, Name: t, address: "h:1" }]\n`);
  assert.match(issues.get('services[0].Name') ?? '', /repeats "name"/);
});

test('YAML syntax errors are a ConfigError with line and column', () => {
  try {
    loadConfig(base({ text: 'listenaddr: "a:1"\nservices:\n  - name: [unclosed\n' }));
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    const issue = err.issues[0] as { line?: number; column?: number; message: string };
    assert.equal(typeof issue.line, 'number');
    assert.equal(typeof issue.column, 'number');
    assert.match(issue.message, /YAML syntax error at line \d+, column \d+/);
  }
});

test('unknown keys warn with the closest known key; extensions are documented keys, not unknown', () => {
  const { warnings, config } = loadConfig(
    base({
      text: `${minimal}listenadr: x\ntrustedproxies: ["10.0.0.0/8", "::1"]\nfreebiewindow: 1h\nservices:\n  - name: s\n    address: "h:1"\n    auth: "freebie 3"\n    freebiewindow: 10m\n    upstreamtimeout: 5s\n    pricee: 3\n`,
    }),
  );
  assert.deepEqual(
    warnings.map((w) => [w.path, w.suggestion]),
    [
      ['listenadr', 'listenaddr'],
      ['services[0].pricee', 'price'],
    ],
  );
  assert.deepEqual(
    config.trustedProxies.map((t) => `${t.family} ${t.address}/${t.prefixLength}`),
    ['ipv4 10.0.0.0/8', 'ipv6 ::1/128'],
  );
  assert.equal(config.freebieWindowMs, 3_600_000);
  assert.equal(config.services[0]?.freebieWindowMs, 600_000);
  assert.equal(config.services[0]?.upstreamTimeoutMs, 5_000);
});

test('hashmail: its keys and the WebSocket pings act when enabled (no warning), and warn ignored by name when it is off', () => {
  const keys = 'wspinginterval: 10s\nwspongwait: 5s\nhashmail:\n  messagerate: 20ms\n  messageburstallowance: 1000\n  staletimeout: -1s\n';
  const on = loadConfig(base({ text: `${minimal}${keys}  enabled: true\n` }));
  assert.deepEqual(on.warnings, []);
  assert.deepEqual(on.config.hashmail, { enabled: true, messageRateMs: 20, messageBurstAllowance: 1000, staleTimeoutMs: -1000 });
  assert.equal(on.config.wsPingIntervalMs, 10_000);
  assert.equal(on.config.wsPongWaitMs, 5_000);
  const off = loadConfig(base({ text: `${minimal}${keys}` }));
  assert.deepEqual(off.warnings.map((w) => `${w.kind} ${w.path}`).sort(), [
    'ignored hashmail.messageburstallowance',
    'ignored hashmail.messagerate',
    'ignored hashmail.staletimeout',
    'ignored wspinginterval',
    'ignored wspongwait',
  ]);
  assert.match(issuesOf(`${minimal}hashmail:\n  messageburstallowance: -1\n`).get('hashmail.messageburstallowance') ?? '', /./);
  assert.match(issuesOf(`${minimal}hashmail:\n  messagerate: -1s\n`).get('hashmail.messagerate') ?? '', /./);
});

test('authenticator: lnd needs tlspath and macdir; a passphrase that is not a pairing phrase and etcd are refused; dev needs nothing', () => {
  const lnd = issuesOf('listenaddr: "a:1"\nauthenticator: { lndhost: "localhost:10009" }\n');
  assert.deepEqual([...lnd.keys()].sort(), ['authenticator.macdir', 'authenticator.tlspath']);
  assert.ok(issuesOf('listenaddr: "a:1"\nauthenticator: { passphrase: "words" }\n').has('authenticator.passphrase'));
  assert.ok(issuesOf('listenaddr: "a:1"\n').has('authenticator'));
  assert.ok(issuesOf(`${minimal}dbbackend: etcd\n`).has('dbbackend'));
  const { config } = loadConfig(
    base({
      text: 'listenaddr: "a:1"\nauthenticator: { lndhost: "h:10009", tlspath: "~/.lnd/tls.cert", macdir: "$LNDDIR/mac" }\n',
      env: { HOME, LNDDIR: '/srv/lnd' },
    }),
  );
  assert.equal(config.authenticator.tlsPath, `${HOME}/.lnd/tls.cert`);
  assert.equal(config.authenticator.macDir, '/srv/lnd/mac');
});

test('property: random YAML-ish junk never throws anything but ConfigError', () => {
  const token = fc.constantFrom(
    'listenaddr',
    'services',
    'name',
    'auth',
    'price',
    'headers',
    'ratelimits',
    'per',
    ':',
    '-',
    ' ',
    '\n',
    '  ',
    '[',
    ']',
    '{',
    '}',
    ',',
    '"',
    "'",
    '&a',
    '*a',
    '<<',
    '!file+hex:',
    '${X}',
    '(?i)',
    '\\',
    '#',
    '|',
    '>',
    '?',
    '0',
    '-1',
    '1.5',
    'true',
    '~',
    'null',
    '\t',
    'µs',
  );
  fc.assert(
    fc.property(fc.array(fc.oneof(token, fc.string({ maxLength: 6 })), { maxLength: 40 }), (parts) => {
      const text = parts.join('');
      try {
        checkConfig(base({ text }));
        loadConfig(base({ text }));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
      }
    }),
    { numRuns: 1500 },
  );
});

test('property: arbitrary values under every known key never throw anything but ConfigError', () => {
  const key = fc.constantFrom(
    'listenaddr',
    'services',
    'authenticator',
    'blocklist',
    'readtimeout',
    'postgres',
    'ratelimitstore',
    'logging',
    'debuglevel',
    'freebiewindow',
  );
  const serviceKey = fc.constantFrom(
    'name',
    'address',
    'auth',
    'price',
    'headers',
    'ratelimits',
    'hostregexp',
    'constraints',
    'capabilities',
    'dynamicprice',
    'rewrite',
    'timeout',
  );
  const value = fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string({ maxLength: 5 }), fc.integer()), { maxKeys: 3 }),
  );
  const service = fc.dictionary(serviceKey, value, { maxKeys: 6 });
  fc.assert(
    fc.property(fc.dictionary(key, value, { maxKeys: 5 }), fc.array(service, { maxLength: 3 }), (top, services) => {
      try {
        loadConfig(base({ text: '', overrides: { ...top, services } }));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        assert.ok(err.issues.length > 0 && err.issues.every((i) => typeof i.path === 'string' && i.path !== ''));
      }
    }),
    { numRuns: 1000 },
  );
});

test("every regular expression of a config is compiled as Go compiles it: Go's refusals are ConfigError issues at their key", () => {
  const issues = issuesOf(`${minimal}services:
  - name: api
    address: 127.0.0.1:8080
    hostregexp: 'a{1001}'
    pathregexp: '(?<=x)'
    authwhitelistpaths: ['^/ok$', '(a{100}){11}']
    authskipinvoicecreationpaths: ['\\1']
    ratelimits:
      - pathregexp: '['
        requests: 1
        per: 1s
`);
  assert.deepEqual([...issues.keys()].sort(), [
    'services[0].authskipinvoicecreationpaths[0]',
    'services[0].authwhitelistpaths[1]',
    'services[0].hostregexp',
    'services[0].pathregexp',
    'services[0].ratelimits[0].pathregexp',
  ]);
  assert.match(issues.get('services[0].hostregexp') ?? '', /invalid repeat count/);
  assert.match(issues.get('services[0].authwhitelistpaths[1]') ?? '', /invalid repeat count/);
  // What Go accepts and a JavaScript RegExp would not: flag groups anywhere.
  const { config } = loadConfig(
    base({ text: `${minimal}services:\n  - name: api\n    address: 127.0.0.1:8080\n    hostregexp: 'a(?i)pi'\n` }),
  );
  assert.equal(config.services[0]?.hostRegexp.regexp.test('aPI'), true);
});

test('dynamicprice.metered acts (its warning names only what is not built); usagetailbytes is ignored without it', () => {
  const yaml = (dp: string): string => `
listenaddr: 127.0.0.1:8081
insecure: true
authenticator:
  backend: dev
services:
  - name: llm
    pathregexp: '^/llm'
    address: 127.0.0.1:9
    dynamicprice:
      enabled: true
      grpcaddress: 127.0.0.1:10010
      insecure: true
${dp}`;
  const metered = checkConfig({ text: yaml('      metered: true\n      usagetailbytes: 4096\n') });
  assert.equal(metered.ok, true, JSON.stringify(metered.issues));
  assert.equal(metered.config?.services[0]?.dynamicPrice.metered, true);
  assert.equal(metered.config?.services[0]?.dynamicPrice.usageTailBytes, 4096);
  const warned = metered.warnings.filter((w) => w.path.startsWith('services[0].dynamicprice'));
  assert.deepEqual(
    warned.map((w) => [w.path, w.kind]),
    [['services[0].dynamicprice.metered', 'not-built']],
  );
  assert.match(warned[0]?.message ?? '', /MPP sessions are metered.*ChallengeMinted, AuthorizeRequest, ReportUsage/);
  const plain = checkConfig({ text: yaml('      usagetailbytes: 4096\n') });
  assert.deepEqual(
    plain.warnings.filter((w) => w.path.startsWith('services[0].dynamicprice')).map((w) => [w.path, w.kind]),
    [['services[0].dynamicprice.usagetailbytes', 'ignored']],
  );
});
