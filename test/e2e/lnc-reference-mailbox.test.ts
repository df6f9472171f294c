// Our LNC client through the REFERENCE aperture's hashmail server (Go, v0.5.0,
// `hashmail.enabled: true` on its own TLS listener with its self-signed
// certificate, reached with devserver): the aperture program pairs with a node
// side of ours serving the fake lnd, a challenge's invoice is created by the
// node over LNC, the node settles it and the paid request passes. The Go
// binary is built by scripts/build-go-tools.ts; without Go, or before it is
// built, this skips with the reason, except under CI.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAperture } from '../../src/app/start-aperture.js';
import { pairingPhraseToEntropy } from '../../src/lnc/pairing-phrase.js';
import { lncSessionStoreOf } from '../../src/store/lnc-session-store.js';
import { FakeLnd } from '../fixtures/fake-lnd.js';
import { h1, startBackend } from '../proxy/support.js';
import { goBinaries, mustRun } from '../regtest/go-binaries.js';
import { startProcess, waitFor } from '../regtest/processes.js';
import { lncProgramYaml, serveNodeOverMailbox } from './lnc-support.js';
import { authorizationFor, challenge } from './lnd-support.js';
import { configFrom, deferCleanup, freePort, quiet, tempBaseDir } from './support.js';

const PHRASE = 'able ability abandon about above absent absorb abstract absurd abuse';
const go = goBinaries(['aperture']);

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe(
  "aperture with lnd over LNC through the reference aperture's hashmail server",
  { timeout: 120_000, skip: go.ok || mustRun ? undefined : go.reason },
  () => {
    let backend: Awaited<ReturnType<typeof startBackend>>;
    before(async () => {
      if (!go.ok) assert.fail(`CI must run the reference mailbox interop test: ${go.reason}`);
      backend = await startBackend((req, res) => res.end(`ok ${req.url}`));
    });
    after(async () => {
      await backend?.close();
    });

    test('paired through the Go mailbox, an invoice created over LNC, settled, the paid request passes', async (t) => {
      assert.ok(go.ok);
      const refDir = tempBaseDir(t, 'aperture-lnc-refmailbox-');
      const port = await freePort();
      // The reference needs a service to start; its authenticator is off (no lnd of its own).
      writeFileSync(
        join(refDir, 'aperture.yaml'),
        `listenaddr: 127.0.0.1:${port}
servername: localhost
dbbackend: sqlite
sqlite:
  databasefilename: ${join(refDir, 'aperture.db')}
authenticator:
  disable: true
hashmail:
  enabled: true
services:
  - name: unused
    hostregexp: '.*'
    pathregexp: '^/unused'
    address: 127.0.0.1:9
    protocol: http
    price: 1
`,
      );
      const proc = startProcess(
        'reference aperture',
        go.paths.aperture,
        [`--configfile=${join(refDir, 'aperture.yaml')}`, `--basedir=${refDir}`],
        join(refDir, 'aperture.log'),
      );
      deferCleanup(t, () => proc.stop());
      await waitFor('the reference aperture', async () => ((await accepting(port)) ? true : undefined), { proc, limitMs: 60_000 });
      const address = `localhost:${port}`;

      const fake = await FakeLnd.start();
      deferCleanup(t, () => fake.stop());
      const node = serveNodeOverMailbox(t, address, PHRASE, fake, fake.invoiceMacaroon);

      const dir = tempBaseDir(t, 'aperture-lnc-refclient-');
      const yaml = lncProgramYaml(PHRASE, address, backend.address);
      const running = await startAperture(configFrom(yaml, dir), { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
      try {
        const c = await challenge(running);
        assert.equal(fake.invoice(c.paymentHash)?.value_msat, 10_000n, `the invoice was created by the node over LNC\n${proc.tail()}`);
        fake.settle(c.paymentHash);
        const res = await h1(`${running.url}/api/x`, { headers: { authorization: authorizationFor(fake, c) } });
        assert.equal(res.status, 200);
        assert.equal(res.body, 'ok /api/x');
        const row = await lncSessionStoreOf(running.store)?.getLncSession(pairingPhraseToEntropy(PHRASE));
        assert.equal(row?.remoteStaticPubKey?.length, 33, 'paired: the node key is stored');
        assert.equal(node.accepted, 1);
      } finally {
        await running.close();
      }
    });
  },
);
