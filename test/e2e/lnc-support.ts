// What the LNC end-to-end tests share: the node side of a session (a fake lnd
// behind a hashmail mailbox) and the program's configuration that reaches it.
import type { TestContext } from 'node:test';
import { HashmailGrpcClient } from '../../src/lnc/mailbox-grpc-client.js';
import { pairingPhraseToEntropy } from '../../src/lnc/pairing-phrase.js';
import type { FakeLnd } from '../fixtures/fake-lnd.js';
import { LncNodeSide } from '../fixtures/lnc-node-side.js';
import { deferCleanup } from './support.js';

/**
 * Serves `fake` as the node side of the LNC session of `phrase` through the mailbox at `address`
 * (its TLS certificate not checked); stopped after the test.
 * @param macaroon - the session's macaroon (the invoice macaroon, or one that may pay)
 * @returns the node side (how many connections it accepted)
 */
export function serveNodeOverMailbox(t: TestContext, address: string, phrase: string, fake: FakeLnd, macaroon: Buffer): LncNodeSide {
  const nodeMailbox = new HashmailGrpcClient({ address, tls: { mode: 'skip-verify' }, retryWaitMs: 200 });
  deferCleanup(t, () => nodeMailbox.close());
  const node = new LncNodeSide(nodeMailbox, pairingPhraseToEntropy(phrase), fake, macaroon);
  deferCleanup(t, () => node.stop());
  return node;
}

/** The program reaching lnd over LNC through the (development) mailbox at `mailbox`, selling `/api` for 10 sat. */
export function lncProgramYaml(phrase: string, mailbox: string, backendAddress: string): string {
  return `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  passphrase: ${phrase}
  mailboxaddress: ${mailbox}
  devserver: true
  network: regtest
services:
  - name: api
    pathregexp: '^/api'
    address: ${backendAddress}
    price: 10
`;
}
