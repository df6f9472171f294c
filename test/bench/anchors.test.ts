// The anchor rows of the benchmark (the Go aperture's per-request path and
// nginx proxy_pass): when they run or are skipped, the nginx configuration,
// the Go build and start-up, and the `proxy-l402 / anchor` ratios. No load is
// run here; test/bench/harness.test.ts runs the nginx row through the CLI.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ANCHOR_REFERENCE_RATIOS,
  GO_ANCHOR_FLAGS,
  buildGoAnchor,
  decideGoAnchor,
  decideNginx,
  decideReferenceAperture,
  findGo,
  findNginx,
  goAnchorArgs,
  nginxInfo,
  type AnchorProbe,
} from '../../bench/lib/anchors.js';
import { freePort, startExternal } from '../../bench/lib/external.js';
import { cpuPlan } from '../../bench/lib/processes.js';
import { evaluateTargets, renderMarkdown, runInfo, toEntries } from '../../bench/lib/results.js';
import type { Measurement } from '../../bench/lib/scenarios.js';
import { defaultSettings } from '../../bench/lib/run-bench.js';
import { nginxConfig } from '../../bench/servers/nginx-config.js';

const root = new URL('../..', import.meta.url).pathname;
const ci = process.env['CI'] === 'true';

function probe(overrides: Partial<AnchorProbe>): AnchorProbe {
  return {
    ci: false,
    goAnchorOption: undefined,
    defaultGoAnchorDir: '/nowhere/shared/anchors/go-aperture',
    go: '/opt/go/bin/go',
    nginx: '/usr/sbin/nginx',
    isGoAnchor: () => true,
    ...overrides,
  };
}

test('Go rows: run with the anchor beside the repository and Go installed', () => {
  assert.deepEqual(decideGoAnchor(probe({})), { run: { dir: '/nowhere/shared/anchors/go-aperture', go: '/opt/go/bin/go' } });
  assert.deepEqual(decideGoAnchor(probe({ goAnchorOption: '/elsewhere/go-aperture' })), {
    run: { dir: '/elsewhere/go-aperture', go: '/opt/go/bin/go' },
  });
});

test('Go rows: no anchor beside the repository (a clean clone) is skipped with its reason, also under CI=true', () => {
  for (const isCi of [false, true]) {
    const d = decideGoAnchor(probe({ ci: isCi, isGoAnchor: () => false, go: undefined }));
    assert.ok('skip' in d);
    assert.match(d.skip, /no Go aperture anchor beside the repository \(\/nowhere\/shared\/anchors\/go-aperture does not exist/);
    assert.match(d.skip, /--go-anchor DIR or APERTURE_BENCH_GO_ANCHOR/);
  }
});

test('Go rows: a named anchor folder without main.go is an error, CI or not', () => {
  for (const isCi of [false, true]) {
    assert.throws(
      () => decideGoAnchor(probe({ ci: isCi, goAnchorOption: '/tmp/not-an-anchor', isGoAnchor: (d) => d !== '/tmp/not-an-anchor' })),
      /the Go aperture anchor was named .* but \/tmp\/not-an-anchor holds no main\.go/,
    );
  }
});

test('Go rows: Go missing is a skip with a reason, and an error under CI=true', () => {
  const d = decideGoAnchor(probe({ go: undefined }));
  assert.ok('skip' in d);
  assert.match(d.skip, /^Go is not installed/);
  assert.throws(() => decideGoAnchor(probe({ go: undefined, ci: true })), /Go is not installed .*CI=true requires it/);
});

test('nginx row: runs when nginx is found; missing, it is skipped, or an error under CI=true', () => {
  assert.deepEqual(decideNginx(probe({})), { run: { nginx: '/usr/sbin/nginx' } });
  const d = decideNginx(probe({ nginx: undefined }));
  assert.ok('skip' in d);
  assert.match(d.skip, /^nginx is not installed \(Debian: apt-get install nginx-light/);
  assert.throws(() => decideNginx(probe({ nginx: undefined, ci: true })), /nginx is not installed .*CI=true requires it/);
});

test('reference row: runs when Go is found (a clone has its module); without Go it is skipped, or an error under CI=true', () => {
  assert.deepEqual(decideReferenceAperture(probe({})), { run: { go: '/opt/go/bin/go' } });
  const d = decideReferenceAperture(probe({ go: undefined }));
  assert.ok('skip' in d);
  assert.match(d.skip, /^Go is not installed .*test\/go\/aperture/);
  assert.throws(() => decideReferenceAperture(probe({ go: undefined, ci: true })), /Go is not installed .*CI=true requires it/);
});

test("the Go rows: faithful with the anchor's defaults, tuned with a 256-connection pool and no access log; L402 for the bench service over aperture's SQLite file", () => {
  assert.deepEqual(GO_ANCHOR_FLAGS['go-aperture'], []);
  assert.deepEqual(GO_ANCHOR_FLAGS['go-aperture-tuned'], ['-idle-per-host', '256', '-accesslog=false']);
  assert.deepEqual(goAnchorArgs({ upstreamPort: 4242, db: '/b/aperture.db', flags: GO_ANCHOR_FLAGS['go-aperture-tuned'] }), [
    '-listen',
    '127.0.0.1:0',
    '-upstream',
    '127.0.0.1:4242',
    '-mode',
    'l402',
    '-service',
    'bench',
    '-db',
    '/b/aperture.db',
    '-idle-per-host',
    '256',
    '-accesslog=false',
  ]);
});

test('nginx.conf: one worker, no daemon, every path in the prefix, no access log, keep-alive to the upstream', () => {
  const conf = nginxConfig({ prefix: '/tmp/p x', port: 18080, upstreamPort: 19090 });
  for (const line of [
    'daemon off;',
    'worker_processes 1;',
    'pid "/tmp/p x/nginx.pid";',
    'lock_file "/tmp/p x/nginx.lock";',
    'error_log stderr warn;',
    'access_log off;',
    'listen 127.0.0.1:18080;',
    'server 127.0.0.1:19090;',
    'keepalive 256;',
    'proxy_pass http://bench_upstream;',
    'proxy_http_version 1.1;',
    'proxy_set_header Connection "";',
    'client_body_temp_path "/tmp/p x/client-body";',
    'proxy_temp_path "/tmp/p x/proxy";',
    'fastcgi_temp_path "/tmp/p x/fastcgi";',
  ]) {
    assert.ok(conf.includes(line), `missing ${line}:\n${conf}`);
  }
  // No path outside the prefix (nginx's compiled-in ones are under /var and /run).
  assert.doesNotMatch(conf, /\/var\/|\/run\//);
  // Modules nginx was built without take their directives with them.
  const lean = nginxConfig({ prefix: '/p', port: 1, upstreamPort: 2, without: new Set(['uwsgi', 'scgi']), upstreamKeepalive: 8 });
  assert.doesNotMatch(lean, /uwsgi_temp_path|scgi_temp_path/);
  assert.match(lean, /fastcgi_temp_path/);
  assert.match(lean, /keepalive 8;/);
});

const nginx = findNginx();
const nginxSkip = nginx === undefined && !ci ? 'nginx is not installed (apt-get install nginx-light)' : false;

test(
  'nginx from the generated configuration: pinned with its worker, forwards the credential, keeps the upstream connection, stops cleanly',
  { skip: nginxSkip, timeout: 30_000 },
  async () => {
    assert.ok(nginx !== undefined, 'nginx must be installed under CI (.ci/run installs nginx-light)');
    const seen: IncomingHttpHeaders[] = [];
    const sockets = new Set<unknown>();
    const upstream = createServer((req, res) => {
      seen.push(req.headers);
      sockets.add(req.socket);
      res.end('{"ok":true}');
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const prefix = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
    try {
      const port = await freePort();
      const conf = join(prefix, 'nginx.conf');
      const { without } = await nginxInfo(nginx);
      writeFileSync(conf, nginxConfig({ prefix, port, upstreamPort: (upstream.address() as AddressInfo).port, without }));
      const cpus = cpuPlan(true)?.server;
      const server = await startExternal({
        command: nginx,
        args: ['-p', prefix, '-c', conf, '-e', 'stderr'],
        ...(cpus === undefined ? {} : { cpus }),
        logFile: join(prefix, 'error.log'),
        ready: { port },
      });
      let pids: number[] = [];
      try {
        assert.equal(server.port, port);
        for (let i = 0; i < 5; i++) {
          const res = await fetch(`http://127.0.0.1:${String(port)}/x`, { headers: { authorization: `L402 m${String(i)}:p` } });
          assert.equal(res.status, 200);
          assert.equal(await res.text(), '{"ok":true}');
        }
        assert.deepEqual(
          seen.map((h) => h.authorization),
          ['L402 m0:p', 'L402 m1:p', 'L402 m2:p', 'L402 m3:p', 'L402 m4:p'],
        );
        // keepalive to the upstream: five requests in turn, one upstream connection.
        assert.equal(sockets.size, 1);
        pids = server.processIds();
        assert.equal(pids.length, 2, `master and one worker: ${pids.join(', ')}`);
        if (cpus !== undefined) {
          for (const pid of pids) {
            assert.match(
              readFileSync(`/proc/${String(pid)}/status`, 'utf8'),
              new RegExp(`^Cpus_allowed_list:\\s+${cpus}$`, 'm'),
              `process ${String(pid)} not pinned`,
            );
          }
        }
      } finally {
        await server.stop();
      }
      for (const pid of pids)
        assert.ok(
          !existsSync(`/proc/${String(pid)}/status`) || /^State:\s+Z/m.test(readFileSync(`/proc/${String(pid)}/status`, 'utf8')),
          `process ${String(pid)} still runs`,
        );
    } finally {
      upstream.close();
      rmSync(prefix, { recursive: true, force: true });
    }
  },
);

test('an external server that exits before it is ready is reported with the tail of its log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-external-'));
  try {
    await assert.rejects(
      startExternal({
        command: process.execPath,
        args: ['-e', 'console.error("bind: address already in use"); process.exit(3)'],
        logFile: join(dir, 'log'),
        ready: { line: /listening on \S*:(\d+)/ },
      }),
      /exited \(code 3\) before it was ready:\nbind: address already in use/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const go = findGo();
const goSkip = go === undefined && !ci ? 'Go is not installed' : false;

test(
  'buildGoAnchor builds a main.go in module mode into the cache once, and the binary starts and reports its port',
  { skip: goSkip, timeout: 300_000 },
  async () => {
    assert.ok(go !== undefined, 'Go must be installed under CI');
    // A stand-in for the anchor (the real one lives outside the repository): it
    // prints the line the bench waits for, as the anchor does.
    const dir = mkdtempSync(join(tmpdir(), 'bench-go-anchor-'));
    try {
      const anchor = join(dir, 'anchor');
      mkdirSync(anchor);
      writeFileSync(
        join(anchor, 'main.go'),
        `package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"runtime"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		panic(err)
	}
	fmt.Printf("go-aperture listening on %s (mode l402)\\n", ln.Addr())
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "GOMAXPROCS=%d", runtime.GOMAXPROCS(0))
	}))
}
`,
      );
      const cache = join(dir, 'cache');
      const first = await buildGoAnchor(anchor, go, cache);
      assert.equal(first.built, true);
      assert.match(first.goVersion, /^go1\.\d+/);
      assert.ok(
        first.modules.some((m) => m.startsWith('gopkg.in/macaroon.v2 v')),
        first.modules.join('; '),
      );
      const again = await buildGoAnchor(anchor, go, cache);
      assert.equal(again.built, false, 'the second build comes from the cache');
      assert.equal(again.binary, first.binary);
      assert.deepEqual(again.modules, first.modules);
      const server = await startExternal({
        command: first.binary,
        args: ['-listen', '127.0.0.1:0'],
        env: { ...process.env, GOMAXPROCS: '1' },
        logFile: join(dir, 'log'),
        ready: { line: /go-aperture listening on \S*:(\d+)/ },
      });
      try {
        assert.equal(await (await fetch(`http://127.0.0.1:${String(server.port)}/`)).text(), 'GOMAXPROCS=1');
        assert.deepEqual(server.processIds(), [server.pid]);
      } finally {
        await server.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

function row(name: string, baseline: string | undefined, rps: number, runs?: number[]): Measurement {
  const requests = rps * 5;
  return {
    name,
    kind: 'http',
    description: name,
    baseline,
    requests,
    errors: 0,
    rps,
    p50_ms: 1,
    p99_ms: 2,
    p999_ms: 3,
    rss_mb: 100,
    rss_end_mb: 100,
    server_cpu_s: requests * 100e-6,
    params: runs === undefined ? {} : { runs: runs.map((r) => ({ rps: r, p50_ms: 1, p99_ms: 2, cpu_us_per_req: 100 })) },
  };
}

test('proxy-l402 / anchor: in each anchor entry, the median of the per-round ratios, and a target each against the ratio when the rows were added', () => {
  const entries = toEntries(
    [
      row('proxy-l402', 'proxy-auth-off', 9000, [9000, 10_000, 8000]),
      row('go-aperture', 'proxy-l402', 3000, [2000, 3000, 4000]),
      row('go-aperture-tuned', 'proxy-l402', 4000, [4000, 4000, 4000]),
      row('nginx', 'proxy-l402', 20_000, [20_000, 20_000, 20_000]),
    ],
    [],
  );
  const get = (name: string): Record<string, unknown> => entries.find((e) => e.name === name) as unknown as Record<string, unknown>;
  // Rounds 9000/2000, 10000/3000, 8000/4000 = 4.50, 3.33, 2.00: median 3.33, where the medians' ratio would be 9000/3000 = 3.
  assert.equal(get('go-aperture')['proxy_l402_ratio'], 10_000 / 3000);
  // Rounds 2.25, 2.50, 2.00 → 2.25; nginx 0.45, 0.50, 0.40 → 0.45.
  assert.equal(get('go-aperture-tuned')['proxy_l402_ratio'], 2.25);
  assert.equal(get('nginx')['proxy_l402_ratio'], 0.45);
  assert.equal(get('proxy-l402')['proxy_l402_ratio'], null);
  // The usual ratio stays rps / baseline rps.
  assert.equal(get('nginx')['ratio'], 20_000 / 9000);
  // It is in the JSON the bench writes.
  assert.match(JSON.stringify(entries), /"name":"nginx".*"proxy_l402_ratio":0\.45/);

  const targets = evaluateTargets(entries).filter((t) => t.target.startsWith('proxy-l402 / '));
  assert.deepEqual(
    targets.map((t) => [t.target.split(' ≥')[0], t.met]),
    [
      ['proxy-l402 / go-aperture', true],
      ['proxy-l402 / go-aperture-tuned', true],
      ['proxy-l402 / nginx', true],
    ],
  );
  assert.match(
    targets[0]?.measured ?? '',
    /^3\.33×, median of the rounds \(4\.50, 3\.33, 2\.00\) \(9000 vs 3000 req\/s; server CPU per request 100 vs 100 µs\)/,
  );
  assert.match(targets[0]?.target ?? '', /≥ 3\.00× \(when the row was added: 9,400 vs 3,100 req\/s at 64 connections\)/);
  assert.doesNotMatch(targets[0]?.measured ?? '', /connections/);
  // Below the reference: not met.
  const slower = toEntries([row('proxy-l402', undefined, 8000), row('go-aperture', 'proxy-l402', 3000)], []);
  const t = evaluateTargets(slower).find((x) => x.target.startsWith('proxy-l402 / go-aperture'));
  assert.equal(t?.met, false);
  assert.match(t?.measured ?? '', /^2\.67× \(8000 vs 3000 req\/s/);
  // Judged as shown: 9000 / 20,950 = 0.4296 reads 0.43×, met; 9000 / 21,000 = 0.4286 reads 0.43× too; 9000 / 21,500 = 0.42×, not met.
  const nginxAt = (rps: number): boolean | undefined =>
    evaluateTargets(toEntries([row('proxy-l402', undefined, 9000), row('nginx', 'proxy-l402', rps)], [])).find((x) =>
      x.target.startsWith('proxy-l402 / nginx'),
    )?.met;
  assert.equal(nginxAt(20_950), true);
  assert.equal(nginxAt(21_000), true);
  assert.equal(nginxAt(21_500), false);
  // Measured at another connection count than the reference: said next to the figure.
  const at32 = toEntries(
    [row('proxy-l402', undefined, 9000), { ...row('go-aperture', 'proxy-l402', 3000), params: { connections: 32 } }],
    [],
  );
  assert.match(
    evaluateTargets(at32).find((x) => x.target.startsWith('proxy-l402 / go-aperture'))?.measured ?? '',
    /; at 32 connections, the reference at 64/,
  );
  assert.ok((ANCHOR_REFERENCE_RATIOS['go-aperture']?.ratio ?? 0) > 2.67);
});

test('without proxy-l402 in the run, the anchor rows have no ratio and no target; skipped rows are listed with their reason', () => {
  const entries = toEntries([row('nginx', 'proxy-l402', 20_000)], []);
  assert.equal(entries[0]?.proxy_l402_ratio, null);
  assert.deepEqual(evaluateTargets(entries), []);
  const markdown = renderMarkdown(
    runInfo('quick', defaultSettings(true)),
    entries,
    [],
    [
      { name: 'go-aperture', reason: 'Go is not installed' },
      { name: 'go-aperture-tuned', reason: 'Go is not installed' },
    ],
  );
  assert.match(markdown, /\| nginx \| 20,000 \|/);
  assert.match(markdown, /^Not run: `go-aperture`: Go is not installed\.$/m);
  assert.match(markdown, /^Not run: `go-aperture-tuned`: Go is not installed\.$/m);
});

test('npm run bench: a named Go anchor folder without main.go stops the run before anything starts', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-no-anchor-'));
  try {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'bench/run.ts'),
        '--only',
        'go-aperture',
        '--no-baselines',
        '--no-micro',
        '--go-anchor',
        dir,
        '--out',
        join(dir, 'r.json'),
      ],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 1, output);
    assert.match(output, /the Go aperture anchor was named \(--go-anchor \/ APERTURE_BENCH_GO_ANCHOR\) but .* holds no main\.go/);
    assert.ok(!existsSync(join(dir, 'r.json')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
