// Everything that runs against real Lightning nodes and the reference binaries,
// in one file so that one regtest network (btcd, seller lnd, buyer lnd, one
// channel) serves every suite: started once in `before`, stopped in `after`.
// Needs the Go binaries of scripts/build-go-tools.ts; skips and says why without
// them, except under CI, where .ci/run builds them and their absence fails.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { goBinaries, mustRun } from './go-binaries.js';
import { lightningSuites, type NetworkRef } from './lightning.suite.js';
import { mppSuites } from './mpp.suite.js';
import { RegtestNetwork } from './network.js';
import { proxySuites } from './proxy.suite.js';
import { referenceSuites } from './reference.suite.js';

const binaries = goBinaries(['lnd', 'btcd', 'aperture', 'l402-grpc-client']);

if (!binaries.ok) {
  if (mustRun) test('regtest network', () => assert.fail(`CI must run the regtest tests: ${binaries.reason}`));
  else test('regtest network', { skip: binaries.reason }, () => undefined);
} else {
  const { paths } = binaries;
  describe('regtest: real lnd nodes', { timeout: 20 * 60_000 }, () => {
    const ref = {} as NetworkRef;
    before(async () => {
      ref.network = await RegtestNetwork.start({ btcd: paths.btcd, lnd: paths.lnd });
    });
    after(async () => {
      await ref.network?.stop();
    });

    lightningSuites(ref);
    proxySuites(ref);
    referenceSuites(ref, { aperture: paths.aperture, l402Client: paths['l402-grpc-client'] });
    // Last: it stops and restarts the buyer's lnd.
    mppSuites(ref);
  });
}
