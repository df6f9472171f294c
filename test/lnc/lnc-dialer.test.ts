// The go-back-N connection as the Noise stream's message transport: messages
// both ways; the peer's FIN (an orderly close) rejects recv with
// L402_ERR_LNC_CONNECTION_CLOSED, as does a close from this side; a failed
// transport keeps its own code.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gbnMessageTransport } from '../../src/lnc/lnc-dialer.js';
import { connectBoth, newLink, settle, track } from './gbn-harness.js';

describe('gbnMessageTransport', () => {
  it('carries messages; the peer FIN rejects recv with L402_ERR_LNC_CONNECTION_CLOSED', async () => {
    const link = newLink();
    const { client, server } = await connectBoth(link);
    const a = gbnMessageTransport(client);
    const b = gbnMessageTransport(server);
    const got = track(b.recv());
    await a.send(Buffer.from('one'));
    await link.timers.until(() => got.state !== 'pending', 10_000);
    assert.equal(Buffer.from(got.value as Uint8Array).toString(), 'one');
    const pending = track(a.recv());
    b.close();
    await link.timers.until(() => pending.state !== 'pending', 10_000);
    assert.equal((pending.error as { code: string }).code, 'L402_ERR_LNC_CONNECTION_CLOSED');
    await assert.rejects(b.recv(), { code: 'L402_ERR_LNC_CONNECTION_CLOSED' });
    await assert.rejects(b.send(Buffer.from('late')), { code: 'L402_ERR_LNC_CONNECTION_CLOSED' });
  });

  it('a transport that fails is not an orderly close: recv rejects with the gbn transport error', async () => {
    const link = newLink();
    const { client } = await connectBoth(link);
    const a = gbnMessageTransport(client);
    link.clientTransport.failSends = new Error('mailbox gone');
    const pending = track(a.recv());
    void a.send(Buffer.from('x')).catch(() => {});
    await link.timers.until(() => pending.state !== 'pending', 10_000);
    await settle();
    assert.equal((pending.error as { code: string }).code, 'L402_ERR_LNC_GBN_TRANSPORT');
  });
});
