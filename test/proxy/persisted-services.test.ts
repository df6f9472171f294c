// Services stored in the database merged with the configuration's: a stored
// service overrides the configured one of its name, stored ones come first (by
// name), invalid entries are reported and not served, and a stored entry is
// validated exactly like an aperture.yaml entry.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore } from '../../src/store/index.js';
import { loadConfig } from '../../src/proxy/config/index.js';
import { mergePersistedServices } from '../../src/proxy/app/persisted-services.js';

const config = loadConfig({
  env: { HOME: '/srv/operator' },
  home: '/srv/operator',
  fileExists: () => true,
  text: `listenaddr: "localhost:8081"
authenticator:
  backend: dev
freebiewindow: 1h
services:
  - name: quotes
    address: 127.0.0.1:1
    pathregexp: '^/quotes'
    price: 5
  - name: weather
    address: 127.0.0.1:2
    pathregexp: '^/weather'
`,
}).config;

test('stored services override configured ones of the same name and come first, by name', async () => {
  const store = new MemoryStore();
  await store.createService('quotes', { name: 'quotes', address: '127.0.0.1:9', pathregexp: '^/q', price: 21, headers: { 'X-K': 'v' }, auth: 'freebie 2' });
  await store.createService('alpha', { address: '127.0.0.1:8', hostregexp: '^alpha\\.' });
  const merged = await mergePersistedServices(config, store);
  assert.deepEqual(merged.services.map((s) => [s.name, s.address]), [['alpha', '127.0.0.1:8'], ['quotes', '127.0.0.1:9'], ['weather', '127.0.0.1:2']]);
  const quotes = merged.services[1];
  assert.deepEqual(quotes && [quotes.price, quotes.pathRegexp?.source, quotes.headers, quotes.auth, quotes.freebieWindowMs], [21, '^/q', { 'X-K': 'v' }, { mode: 'freebie', count: 2 }, 3_600_000]);
  assert.deepEqual(merged.fromRegistry, ['alpha', 'quotes']);
  assert.deepEqual(merged.invalid, []);
  await store.close();
});

test('an invalid stored entry is reported and not served; the configured service of its name stays', async () => {
  const store = new MemoryStore();
  await store.createService('quotes', { address: '127.0.0.1:9', price: -1 });
  await store.createService('odd', ['not', 'a', 'mapping']);
  const merged = await mergePersistedServices(config, store);
  assert.deepEqual(merged.services.map((s) => [s.name, s.address]), [['quotes', '127.0.0.1:1'], ['weather', '127.0.0.1:2']]);
  assert.deepEqual(merged.invalid.map((i) => i.name), ['odd', 'quotes']);
  assert.match(merged.invalid[1]?.reason ?? '', /^price: /);
  await store.close();
});
