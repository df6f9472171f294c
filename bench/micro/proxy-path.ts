// Micro-benchmarks of the per-request work of the proxy outside the token core:
// routing (and the Go regular expressions it is made of), the request view, the
// upstream header rewrite, re-emitting the credential, the token bucket. One
// process, one core; JSON lines with --json.
// Run: node --import tsx bench/micro/proxy-path.ts [--seconds 1] [--json]
import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { RE2JS } from 're2js';
import { nodeRequestView } from '../../src/adapters/node/request-view.js';
import { compileGoRegexp } from '../../src/core/go-regexp.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { forwardedL402Authorization } from '../../src/core/l402-scheme.js';
import { upstreamHeaders } from '../../src/proxy/forward/forward-headers.js';
import { Router } from '../../src/proxy/router.js';
import { TokenBucket } from '../../src/ratelimit/token-bucket.js';
import { mintAuthorizations } from '../lib/bench-tokens.js';

const secondsArg = process.argv.indexOf('--seconds');
const SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 1;
const JSON_OUT = process.argv.includes('--json');

interface Row {
  name: string;
  opsPerSec: number;
  baseline: string;
  note: string;
}
const rows: Row[] = [];

function measure(name: string, baseline: string, note: string, fn: () => unknown): void {
  for (let i = 0; i < 20_000; i++) fn();
  let ops = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) fn();
    ops += 1000;
  }
  rows.push({ name, opsPerSec: (ops * 1000) / (performance.now() - start), baseline, note });
}

const [authorization] = await mintAuthorizations(new MemorySecretStore(), 'bench', 1);
const rawHeaders = [
  'Host',
  'api.example.com:8081',
  'User-Agent',
  'bench/1.0',
  'Accept',
  '*/*',
  'Authorization',
  authorization as string,
  'Connection',
  'keep-alive',
];
const headers: Record<string, string> = {};
for (let i = 0; i < rawHeaders.length; i += 2) headers[(rawHeaders[i] as string).toLowerCase()] = rawHeaders[i + 1] as string;
const socket = new Socket();
Object.defineProperty(socket, 'remoteAddress', { value: '::ffff:127.0.0.1' });
const req = { method: 'GET', url: '/v1/quotes?x=1', headers, rawHeaders, httpVersionMajor: 1, socket } as unknown as IncomingMessage;

// Five services, the request matching the last: the routing cost grows with the table.
const services = [
  { name: 'a', hostRegexp: '^admin\\.', address: '127.0.0.1:1' },
  { name: 'b', hostRegexp: '.*', pathRegexp: '^/static/', address: '127.0.0.1:2' },
  { name: 'c', hostRegexp: '.*', pathRegexp: '^/v2/', address: '127.0.0.1:3' },
  { name: 'd', hostRegexp: '^other\\.', address: '127.0.0.1:4' },
  { name: 'e', hostRegexp: '^api\\.example\\.com', pathRegexp: '^/v1/', address: '127.0.0.1:5' },
];
const router = new Router(services);
const oneService = new Router([{ name: 'api', hostRegexp: '.*', address: '127.0.0.1:5' }]);
const bucket = new TokenBucket({ requests: 1e9, per: 1000 });
const canonical = forwardedL402Authorization(nodeRequestView(req));

measure('TokenBucket.take (baseline)', '', 'one bucket, always allowed', () => bucket.take());
measure('Router.match, 1 service', 'TokenBucket.take (baseline)', "hostregexp '.*'", () =>
  oneService.match('api.example.com:8081', '/v1/quotes'),
);
measure('Router.match, 5th of 5 services', 'TokenBucket.take (baseline)', 'host and path regexps', () =>
  router.match('api.example.com:8081', '/v1/quotes'),
);
// One expression against one input: a V8 RegExp (what routing used before it matched in linear
// time), GoRegexp (what it uses: string operations for these shapes, RE2 otherwise) and the
// RE2 engine alone (re2js), for the shapes routing tables are made of and one that needs RE2.
const expressions: [string, string][] = [
  ['^/api/.*$', '/api/v1/quote'],
  ['^/api/v1/quote$', '/api/v1/quote'],
  ['^(www\\.)?example\\.com$', 'www.example.com'],
  ['.*', '/api/v1/quote'],
  ['^/v[0-9]+/quote$', '/v1/quote'],
];
for (const [source, input] of expressions) {
  const v8 = new RegExp(source);
  const go = compileGoRegexp(source);
  const re2 = RE2JS.compile(source);
  const before = `RegExp.test (V8) '${source}'`;
  measure(before, 'TokenBucket.take (baseline)', `input ${input}; what routing used before`, () => v8.test(input));
  measure(`GoRegexp.test '${source}'`, before, `${go.fastPath ? 'string operations' : 'RE2 (re2js)'}; what routing uses`, () =>
    go.test(input),
  );
  measure(`re2js test '${source}'`, before, 'the RE2 engine alone', () => re2.test(input));
}
measure('nodeRequestView + header(authorization)', 'TokenBucket.take (baseline)', '5 request headers', () =>
  nodeRequestView(req).header('authorization'),
);
measure(
  'forwardedL402Authorization, same header',
  'TokenBucket.take (baseline)',
  'one client: the re-emitted credential is remembered',
  () => forwardedL402Authorization(nodeRequestView(req)),
);
/** The request above with another Authorization value. */
function viewWith(a: string): ReturnType<typeof nodeRequestView> {
  const raw = rawHeaders.map((v, i) => (i > 0 && rawHeaders[i - 1] === 'Authorization' ? a : v));
  return nodeRequestView({ ...req, rawHeaders: raw, headers: { ...headers, authorization: a } } as unknown as IncomingMessage);
}
// A server gets a new string for the same header on every request (see bench/micro/core.ts).
const authBytes = Buffer.from(authorization as string, 'latin1');
measure('forwardedL402Authorization, same header, new string per call', 'TokenBucket.take (baseline)', 'as parsed from a socket', () =>
  forwardedL402Authorization(viewWith(authBytes.toString('latin1'))),
);
// More distinct headers than forwardedL402Authorization remembers (4,096): every call parses and re-encodes.
const many = await mintAuthorizations(new MemorySecretStore(), 'bench', 5000);
const views = many.map(viewWith);
let next = 0;
measure('forwardedL402Authorization, 5,000 headers', 'TokenBucket.take (baseline)', 'round-robin: parse and re-encode each time', () => {
  next = next + 1 === views.length ? 0 : next + 1;
  return forwardedL402Authorization(views[next] as ReturnType<typeof nodeRequestView>);
});
measure('upstreamHeaders', 'TokenBucket.take (baseline)', '5 headers in, X-Forwarded-* out', () =>
  upstreamHeaders(rawHeaders, {
    clientIp: '127.0.0.1',
    proto: 'http',
    originalHost: 'api.example.com:8081',
    backendHost: '127.0.0.1:5',
    grpc: false,
    upgrade: false,
    inject: undefined,
    authorization: canonical,
  }),
);

if (JSON_OUT) {
  for (const r of rows) console.log(JSON.stringify(r));
} else {
  for (const r of rows)
    console.log(`${r.name.padEnd(42)} ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(14)} ops/s  ${r.note}`);
}
