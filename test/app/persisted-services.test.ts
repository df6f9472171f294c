// Services stored in the database merged with the configuration's at start-up,
// by the admin API's rule: a stored service overrides the configured one of its
// name in its place, a tombstone hides it, an invalid row is reported and leaves
// the configured one, services only in the database follow, oldest first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore } from '../../src/store/index.js';
import { loadConfig } from '../../src/proxy/config/index.js';
import { mergePersistedServices } from '../../src/app/persisted-services.js';

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
  - name: news
    address: 127.0.0.1:3
    pathregexp: '^/news'
`,
}).config;

test('a stored service overrides the configured one in its place; stored-only ones follow, oldest first; a tombstone hides', async () => {
  let now = 1000;
  const store = new MemoryStore({ clock: { now: () => now++ } });
  await store.createService('zeta', { name: 'zeta', address: '127.0.0.1:7', hostregexp: '^zeta\\.' });
  await store.createService('quotes', { name: 'quotes', address: '127.0.0.1:9', pathregexp: '^/q', price: 21, headers: { 'X-K': 'v' }, auth: 'freebie 2' });
  await store.createService('alpha', { name: 'alpha', address: '127.0.0.1:8', hostregexp: '^alpha\\.' });
  await store.createService('news', { name: 'news', deleted: true });
  const merged = await mergePersistedServices(config, store);
  assert.deepEqual(merged.services.map((s) => [s.name, s.address]), [['quotes', '127.0.0.1:9'], ['weather', '127.0.0.1:2'], ['zeta', '127.0.0.1:7'], ['alpha', '127.0.0.1:8']]);
  const quotes = merged.services[0];
  assert.deepEqual(quotes && [quotes.price, quotes.pathRegexp?.source, quotes.headers, quotes.auth, quotes.freebieWindowMs], [21, '^/q', { 'X-K': 'v' }, { mode: 'freebie', count: 2 }, 3_600_000]);
  assert.deepEqual(merged.fromRegistry, ['quotes', 'zeta', 'alpha']);
  assert.deepEqual(merged.deleted, ['news']);
  assert.deepEqual(merged.invalid, []);
  await store.close();
});

test('an invalid stored entry is reported and not served; the configured service of its name stays', async () => {
  const store = new MemoryStore();
  await store.createService('quotes', { name: 'quotes', address: '127.0.0.1:9', price: -1 });
  await store.createService('odd', ['not', 'a', 'mapping']);
  await store.createService('renamed', { name: 'other', address: '127.0.0.1:9' });
  const merged = await mergePersistedServices(config, store);
  assert.deepEqual(merged.services.map((s) => [s.name, s.address]), [['quotes', '127.0.0.1:1'], ['weather', '127.0.0.1:2'], ['news', '127.0.0.1:3']]);
  assert.deepEqual(merged.invalid.map((i) => i.name).sort(), ['odd', 'quotes', 'renamed']);
  assert.match(merged.invalid.find((i) => i.name === 'quotes')?.reason ?? '', /^price: /);
  await store.close();
});
