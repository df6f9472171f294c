// The listener's and the backends' connection limits in aperture.yaml (extensions):
// `maxconcurrentstreams`, `upstreamconnections`, `upstreamqueue`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../../src/core/errors.js';
import { checkConfig, loadConfig, type LoadConfigOptions } from '../../../src/proxy/config/index.js';

const HOME = '/srv/operator';
const base = (text: string): LoadConfigOptions => ({ text, env: { HOME }, home: HOME, fileExists: () => true });
const minimal = 'listenaddr: "localhost:8081"\nauthenticator:\n  backend: dev\n';

test('defaults: 250 HTTP/2 streams per connection, 256 connections and 1024 waiting requests per backend', () => {
  const { config, warnings } = loadConfig(base(minimal));
  assert.deepEqual(warnings, []);
  assert.equal(config.maxConcurrentStreams, 250);
  assert.equal(config.upstreamConnections, 256);
  assert.equal(config.upstreamQueue, 1024);
});

test('set values are read, accepted by --check-config without warnings; 0 lifts the backend bounds', () => {
  const text = `${minimal}maxconcurrentstreams: 100\nupstreamconnections: 0\nupstreamqueue: 0\n`;
  const report = checkConfig(base(text));
  assert.equal(report.ok, true);
  assert.deepEqual(report.warnings, []);
  const { config } = loadConfig(base(`${minimal}maxconcurrentstreams: 100\nupstreamconnections: 32\nupstreamqueue: 64\n`));
  assert.equal(config.maxConcurrentStreams, 100);
  assert.equal(config.upstreamConnections, 32);
  assert.equal(config.upstreamQueue, 64);
});

test('out-of-range or non-integer values are errors naming the key', () => {
  for (const [line, key] of [
    ['maxconcurrentstreams: 0', 'maxconcurrentstreams'],
    ['maxconcurrentstreams: 4294967295', 'maxconcurrentstreams'],
    ['upstreamconnections: -1', 'upstreamconnections'],
    ['upstreamqueue: 1.5', 'upstreamqueue'],
    ['upstreamconnections: many', 'upstreamconnections'],
  ] as const) {
    assert.throws(
      () => loadConfig(base(`${minimal}${line}\n`)),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(
          err.issues.map((i) => i.path),
          [key],
          line,
        );
        return true;
      },
    );
  }
});
