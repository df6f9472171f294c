// The `aperture` program's limit on V8 heap growth: when it applies and when the operator's choice wins.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_HEAP_GROWING_PERCENT, heapGrowthPlan, limitHeapGrowth } from '../../src/cli/heap-growth.js';
import { ConfigError } from '../../src/core/errors.js';

test('by default the old generation may grow to 1.5x the live heap', () => {
  assert.deepEqual(heapGrowthPlan([], {}), { apply: true, percent: DEFAULT_HEAP_GROWING_PERCENT });
  assert.equal(DEFAULT_HEAP_GROWING_PERCENT, 50);
  assert.deepEqual(heapGrowthPlan([], { APERTURE_HEAP_GROWING_PERCENT: ' 120 ' }), { apply: true, percent: 120 });
  assert.deepEqual(heapGrowthPlan([], { APERTURE_HEAP_GROWING_PERCENT: '' }), { apply: true, percent: 50 });
});

test('0 keeps V8 defaults, and heap flags given to node win (command line or NODE_OPTIONS, dashes or underscores)', () => {
  assert.deepEqual(heapGrowthPlan([], { APERTURE_HEAP_GROWING_PERCENT: '0' }), { apply: false, reason: 'APERTURE_HEAP_GROWING_PERCENT=0' });
  for (const flags of [
    ['--max-old-space-size=512'],
    ['--max_old_space_size', '512'],
    ['--heap-growing-percent=20'],
    ['--max-heap-size=300'],
  ]) {
    assert.equal(heapGrowthPlan(flags, {}).apply, false, flags.join(' '));
  }
  assert.equal(heapGrowthPlan([], { NODE_OPTIONS: '--enable-source-maps --max-old-space-size=2048' }).apply, false);
  // Unrelated flags do not count.
  assert.equal(heapGrowthPlan(['--max-semi-space-size=8', '--enable-source-maps'], { NODE_OPTIONS: '--trace-warnings' }).apply, true);
});

test('values that are not an integer from 0 to 1000 are refused', () => {
  for (const bad of ['lots', '-1', '1001', '2.5', '0x10', 'NaN']) {
    assert.throws(
      () => heapGrowthPlan([], { APERTURE_HEAP_GROWING_PERCENT: bad }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.code === 'L402_ERR_CONFIG_INVALID' &&
        e.issues[0]?.path === 'APERTURE_HEAP_GROWING_PERCENT' &&
        /^must be an integer from 0 to 1000/.test(e.issues[0].message),
      bad,
    );
  }
});

test('limitHeapGrowth describes what it did', () => {
  assert.equal(limitHeapGrowth([], { APERTURE_HEAP_GROWING_PERCENT: '0' }), 'heap: V8 defaults (APERTURE_HEAP_GROWING_PERCENT=0)');
  assert.equal(limitHeapGrowth(['--max-old-space-size=900'], {}), 'heap: V8 defaults (heap flags given to node)');
});
