// services[].upstreamtimeout: each service waits for its backend's response head as long as its
// own setting says (then 504), and a service without one inherits the top-level value.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { h1, startBackend, until } from '../proxy/support.js';
import { configFrom, quiet, removeDir, tempBaseDir } from './support.js';

describe('per-service upstream timeout', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  // Requests the backend holds until the test answers them, by path.
  const held = new Map<string, () => void>();

  const baseDir = tempBaseDir();
  before(async () => {
    backend = await startBackend((req, res) => {
      held.set(req.url ?? '', () => res.end(`late ${req.url}`));
    });
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
upstreamtimeout: 250ms
authenticator:
  disable: true
services:
  - name: quick
    pathregexp: '^/quick'
    address: ${backend.address}
    upstreamtimeout: 150ms
  - name: patient
    pathregexp: '^/patient'
    address: ${backend.address}
    upstreamtimeout: 2m
  - name: inherits
    pathregexp: '^/inherits'
    address: ${backend.address}
`,
      baseDir,
    );
    aperture = await startAperture(config, { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
  });

  after(async () => {
    for (const release of held.values()) release();
    await aperture.close();
    await backend.close();
    removeDir(baseDir);
  });

  test('each service applies its own timeout: 150 ms → 504, 2 min still waiting, unset → the top-level 250 ms', async () => {
    // The patient request is sent first and stays held by the backend the whole time.
    const patient = h1(`${aperture.url}/patient/a`);
    await until(() => held.has('/patient/a'), 'the patient request at the backend');

    const quick = await h1(`${aperture.url}/quick/a`);
    assert.equal(quick.status, 504);
    assert.match(quick.body, /L402_ERR_UPSTREAM_TIMEOUT/);

    const inherits = await h1(`${aperture.url}/inherits/a`);
    assert.equal(inherits.status, 504);
    assert.match(inherits.body, /L402_ERR_UPSTREAM_TIMEOUT/);

    // Both timeouts fired while the patient request was still open; it is answered normally now.
    assert.ok(held.has('/quick/a') && held.has('/inherits/a'));
    held.get('/patient/a')?.();
    const done = await patient;
    assert.equal(done.status, 200);
    assert.equal(done.body, 'late /patient/a');
  });

  test('the services carry their own timeout; no warning is needed any more', () => {
    const byName = new Map(aperture.services.map((s) => [s.name, s.upstreamTimeoutMs]));
    assert.equal(byName.get('quick'), 150);
    assert.equal(byName.get('patient'), 120_000);
    assert.equal(byName.get('inherits'), 250);
  });
});
