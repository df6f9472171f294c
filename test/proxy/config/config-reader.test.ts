// ConfigReader and ConfigSection: a key the code reads must be one the section
// knows, so that no key is applied while the operator is told it is ignored.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { L402Error } from '../../../src/core/errors.js';
import { ConfigReader } from '../../../src/proxy/config/config-reader.js';
import { rawFromValue } from '../../../src/proxy/config/raw-node.js';

test('an unknown key in the file is warned about as ignored and a known key is read', () => {
  const reader = new ConfigReader();
  const section = reader.section(rawFromValue({ enabled: true, enabeld: false }), 'admin', ['enabled']);
  assert.equal(section.bool('enabled', false), true);
  assert.deepEqual(
    reader.warnings.map((w) => [w.path, w.kind, w.suggestion]),
    [['admin.enabeld', 'unknown-key', 'enabled']],
  );
});

test('reading a key missing from the known list throws, whether or not the file has it', () => {
  for (const value of [{ stray: 'x' }, {}, undefined]) {
    const reader = new ConfigReader();
    const section = reader.section(rawFromValue(value), 'admin', ['enabled']);
    assert.throws(
      () => section.optString('stray'),
      (error: unknown) => error instanceof L402Error && error.code === 'L402_ERR_CONFIG_INVALID' && /admin\.stray/.test(error.message),
    );
    assert.throws(() => section.section('stray', []), L402Error);
  }
});
