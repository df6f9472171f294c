// The hashmail server on the program's listener (hashmail.enabled), over real
// sockets: a grpc-js client whose messages come from the proto (protobufjs,
// independent of the server's own codec) and a `ws` client, as litd, Go LNC
// clients and lnc-web reach it. Paired streams, the reference's error texts and
// codes, the 2 MiB message and the size limit, the stale teardown, the gauges,
// CORS, the REST calls, bad input and abrupt disconnects, and that the
// listener's read and write timeouts leave the long-lived calls alone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import WebSocket from 'ws';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { HASHMAIL_PROTO } from '../../src/lnc/hashmail-proto.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { configFrom, quiet, removeDir, tempBaseDir } from '../e2e/support.js';

const root = protobuf.parse(HASHMAIL_PROTO, { keepCase: true }).root;
const types = {
  CipherBoxAuth: root.lookupType('hashmailrpc.CipherBoxAuth'),
  CipherInitResp: root.lookupType('hashmailrpc.CipherInitResp'),
  DelCipherBoxResp: root.lookupType('hashmailrpc.DelCipherBoxResp'),
  CipherBoxDesc: root.lookupType('hashmailrpc.CipherBoxDesc'),
  CipherBox: root.lookupType('hashmailrpc.CipherBox'),
};
type Msg = Record<string, unknown>;
const ser = (t: protobuf.Type) => (value: Msg) => Buffer.from(t.encode(t.fromObject(value)).finish());
const de = (t: protobuf.Type) => (bytes: Buffer) => t.toObject(t.decode(bytes), { bytes: Buffer as unknown as StringConstructor }) as Msg;

const HashMail = grpc.makeGenericClientConstructor(
  {
    NewCipherBox: {
      path: '/hashmailrpc.HashMail/NewCipherBox',
      requestStream: false,
      responseStream: false,
      requestSerialize: ser(types.CipherBoxAuth),
      requestDeserialize: de(types.CipherBoxAuth),
      responseSerialize: ser(types.CipherInitResp),
      responseDeserialize: (bytes: Buffer) => ({ raw: bytes, ...de(types.CipherInitResp)(bytes) }),
    },
    DelCipherBox: {
      path: '/hashmailrpc.HashMail/DelCipherBox',
      requestStream: false,
      responseStream: false,
      requestSerialize: ser(types.CipherBoxAuth),
      requestDeserialize: de(types.CipherBoxAuth),
      responseSerialize: ser(types.DelCipherBoxResp),
      responseDeserialize: de(types.DelCipherBoxResp),
    },
    SendStream: {
      path: '/hashmailrpc.HashMail/SendStream',
      requestStream: true,
      responseStream: false,
      requestSerialize: ser(types.CipherBox),
      requestDeserialize: de(types.CipherBox),
      responseSerialize: ser(types.CipherBoxDesc),
      responseDeserialize: de(types.CipherBoxDesc),
    },
    RecvStream: {
      path: '/hashmailrpc.HashMail/RecvStream',
      requestStream: false,
      responseStream: true,
      requestSerialize: ser(types.CipherBoxDesc),
      requestDeserialize: de(types.CipherBoxDesc),
      responseSerialize: ser(types.CipherBox),
      responseDeserialize: de(types.CipherBox),
    },
  },
  'HashMail',
);

interface HashMailClient extends grpc.Client {
  NewCipherBox(req: Msg, cb: (err: grpc.ServiceError | null, res?: Msg) => void): grpc.ClientUnaryCall;
  DelCipherBox(req: Msg, cb: (err: grpc.ServiceError | null, res?: Msg) => void): grpc.ClientUnaryCall;
  SendStream(cb: (err: grpc.ServiceError | null, res?: Msg) => void): grpc.ClientWritableStream<Msg>;
  RecvStream(req: Msg): grpc.ClientReadableStream<Msg>;
}

const call = <T>(fn: (cb: (err: grpc.ServiceError | null, res?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, res) => (err === null ? resolve(res as T) : reject(err))));

/** The status a call failed with. */
async function failure(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await promise;
  } catch (error) {
    const e = error as grpc.ServiceError;
    return { code: e.code, details: e.details };
  }
  assert.fail('the call succeeded');
}

/** Reads `n` messages of a RecvStream. */
function take(stream: grpc.ClientReadableStream<Msg>, n: number): Promise<Msg[]> {
  return new Promise((resolve, reject) => {
    const got: Msg[] = [];
    const onData = (m: Msg): void => {
      got.push(m);
      if (got.length === n) {
        stream.off('data', onData);
        stream.off('error', reject);
        resolve(got);
      }
    };
    stream.on('data', onData);
    stream.on('error', reject);
  });
}

/** The status a RecvStream ended with. */
function ended(stream: grpc.ClientReadableStream<Msg>): Promise<{ code: number; details: string }> {
  return new Promise((resolve) => {
    stream.on('data', () => undefined);
    stream.on('error', (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details }));
    stream.on('status', (s: grpc.StatusObject) => {
      if (s.code === 0) resolve({ code: 0, details: s.details });
    });
  });
}

/** Cancels a call from the client side (its CANCELLED error is expected). */
function hangUp(stream: grpc.ClientReadableStream<Msg>): void {
  stream.on('error', () => undefined);
  stream.cancel();
}

/** Resolves when a RecvStream holds its read slot (the server sends its headers then). */
function holding(stream: grpc.ClientReadableStream<Msg>): Promise<void> {
  return new Promise((resolve) => stream.once('metadata', () => resolve()));
}

const newId = (): Buffer => randomBytes(64);
const auth = (id: Buffer): Msg => ({ desc: { stream_id: id }, lnd_auth: {} });

interface Running {
  aperture: RunningAperture;
  port: number;
  client: HashMailClient;
  close(): Promise<void>;
}

async function start(extra = ''): Promise<Running> {
  const dir = tempBaseDir('aperture-hashmail-');
  const yaml =
    `listenaddr: 127.0.0.1:0\ninsecure: true\nauthenticator:\n  disable: true\n` +
    `hashmail:\n  enabled: true\n  messagerate: 1ms\n  messageburstallowance: 1000\n${extra}`;
  const aperture = await startAperture(configFrom(yaml, dir), { store: new MemoryStore(), logger: quiet });
  const port = aperture.addresses.proxy.port;
  const client = new HashMail(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 8 * 1024 * 1024,
  }) as unknown as HashMailClient;
  return {
    aperture,
    port,
    client,
    close: async () => {
      client.close();
      await aperture.close();
      removeDir(dir);
    },
  };
}

async function metric(run: Running, name: string): Promise<number> {
  const text = (await run.aperture.metrics.render()).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} is exported`);
  return Number(line.split(' ')[1]);
}

function ws(port: number, path: 'receive' | 'send', headers: Record<string, string> = {}, autoPong = true): Promise<WebSocket> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/v1/lightning-node-connect/hashmail/${path}?method=POST`, { headers, autoPong });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

function nextText(socket: WebSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('message', (data: Buffer, binary: boolean) => {
      assert.equal(binary, false, 'frames are text');
      resolve(data.toString('utf8'));
    });
    socket.once('error', reject);
  });
}

function closed(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) resolve(-1);
    else socket.once('close', (code) => resolve(code));
  });
}

describe('the hashmail server on the program listener', () => {
  let run: Running;
  before(async () => {
    run = await start();
  });
  after(() => run.close());

  test('NewCipherBox answers success present (0a 00); a second one is 6 AlreadyExists "stream already active"', async () => {
    const id = newId();
    const res = await call<Msg>((cb) => run.client.NewCipherBox(auth(id), cb));
    assert.deepEqual([...(res['raw'] as Buffer)], [0x0a, 0x00]);
    assert.ok(res['success'] !== undefined && res['success'] !== null);
    assert.deepEqual(await failure(call((cb) => run.client.NewCipherBox(auth(id), cb))), { code: 6, details: 'stream already active' });
    await call((cb) => run.client.DelCipherBox(auth(id), cb));
  });

  test('the reference texts for a missing descriptor, stream ID, auth, and an unknown stream', async () => {
    assert.deepEqual(await failure(call((cb) => run.client.NewCipherBox({ lnd_auth: {} }, cb))), {
      code: 2,
      details: 'cipher box descriptor required',
    });
    assert.deepEqual(await failure(call((cb) => run.client.NewCipherBox({ desc: {}, lnd_auth: {} }, cb))), {
      code: 2,
      details: 'stream_id required',
    });
    assert.deepEqual(await failure(call((cb) => run.client.NewCipherBox({ desc: { stream_id: newId() } }, cb))), {
      code: 2,
      details: 'auth type required',
    });
    assert.deepEqual(await failure(call((cb) => run.client.DelCipherBox(auth(newId()), cb))), { code: 2, details: 'stream not found' });
    assert.deepEqual(await ended(run.client.RecvStream({ stream_id: newId() })), { code: 2, details: 'stream not found' });
    // The reference crashes on a SendStream whose first message has no descriptor; this answers.
    const send = call((cb) => {
      const s = run.client.SendStream(cb);
      s.write({ msg: Buffer.from('x') });
    });
    assert.deepEqual(await failure(send), { code: 2, details: 'cipher box descriptor required' });
  });

  test('a pair of streams carries messages both ways, one in, one out, in order, each with its descriptor', async () => {
    const sid = newId();
    const other = Buffer.from(sid);
    other[63] = (other[63] as number) ^ 1;
    for (const id of [sid, other]) await call((cb) => run.client.NewCipherBox(auth(id), cb));
    const down = run.client.RecvStream({ stream_id: sid });
    const up = run.client.RecvStream({ stream_id: other });
    const gotDown = take(down, 3);
    const gotUp = take(up, 2);
    const sendDown = run.client.SendStream(() => undefined);
    const sendUp = run.client.SendStream(() => undefined);
    for (const m of ['one', '', 'three']) sendDown.write({ desc: { stream_id: sid }, msg: Buffer.from(m) });
    // Later messages' descriptors are ignored: the first one named the stream.
    sendUp.write({ desc: { stream_id: other }, msg: Buffer.from('a') });
    sendUp.write({ msg: Buffer.from('b') });
    const down3 = await gotDown;
    assert.deepEqual(
      down3.map((m) => Buffer.from((m['msg'] as Buffer | undefined) ?? []).toString()),
      ['one', '', 'three'],
    );
    for (const m of down3) assert.ok(Buffer.from((m['desc'] as Msg)['stream_id'] as Buffer).equals(sid));
    assert.deepEqual(
      (await gotUp).map((m) => Buffer.from(m['msg'] as Buffer).toString()),
      ['a', 'b'],
    );
    assert.equal(await metric(run, 'hashmail_mailbox_count'), 2);

    // A second reader or writer is refused after the 250 ms wait, with the texts clients match.
    assert.deepEqual(await ended(run.client.RecvStream({ stream_id: sid })), { code: 2, details: 'read stream occupied' });
    const second = call((cb) => run.client.SendStream(cb).write({ desc: { stream_id: sid }, msg: Buffer.from('x') }));
    assert.deepEqual(await failure(second), { code: 2, details: 'write stream occupied' });

    // A reader that hangs up returns its slot: the next one gets the stream.
    hangUp(down);
    const again = run.client.RecvStream({ stream_id: sid });
    const next = take(again, 1);
    // Sent once the new reader holds the slot: a message taken by a reader that is going is lost, as in the reference.
    await holding(again);
    sendDown.write({ msg: Buffer.from('after') });
    assert.equal(Buffer.from((await next)[0]?.['msg'] as Buffer).toString(), 'after');

    // Deleting a stream ends the calls on it.
    const endedAgain = ended(again);
    await call((cb) => run.client.DelCipherBox(auth(sid), cb));
    assert.deepEqual(await endedAgain, { code: 2, details: 'stream shutting down' });
    hangUp(up);
    sendDown.end();
    sendUp.end();
    await call((cb) => run.client.DelCipherBox(auth(other), cb));
  });

  test('a 2 MiB message goes through whole; one above the 4 MiB limit is 8 RESOURCE_EXHAUSTED and the stream stays usable', async () => {
    const id = newId();
    await call((cb) => run.client.NewCipherBox(auth(id), cb));
    const reader = run.client.RecvStream({ stream_id: id });
    const got = take(reader, 1);
    const big = randomBytes(2 * 1024 * 1024);
    const writer = run.client.SendStream(() => undefined);
    writer.write({ desc: { stream_id: id }, msg: big });
    assert.ok(Buffer.from((await got)[0]?.['msg'] as Buffer).equals(big));
    writer.end();

    const tooBig = call((cb) => run.client.SendStream(cb).write({ desc: { stream_id: id }, msg: Buffer.alloc(4 * 1024 * 1024 + 1) }));
    const refused = await failure(tooBig);
    assert.equal(refused.code, 8);
    assert.match(refused.details, /above the limit of 4194304/);
    const after2 = take(reader, 1);
    const w2 = run.client.SendStream(() => undefined);
    w2.write({ desc: { stream_id: id }, msg: Buffer.from('still here') });
    assert.equal(Buffer.from((await after2)[0]?.['msg'] as Buffer).toString(), 'still here');
    w2.end();
    hangUp(reader);
    await call((cb) => run.client.DelCipherBox(auth(id), cb));
  });

  test('bad bytes are a status, not a crash: garbage protobuf is 13, a compressed message 12, an unknown method 12', async () => {
    const session = http2Connect(`http://127.0.0.1:${run.port}`);
    try {
      const raw = (path: string, body: Buffer): Promise<Record<string, unknown>> =>
        new Promise((resolve, reject) => {
          const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
          let headers: Record<string, unknown> = {};
          req.on('response', (h) => (headers = { ...h }));
          req.on('trailers', (t) => (headers = { ...headers, ...t }));
          req.on('data', () => undefined);
          req.on('end', () => resolve(headers));
          req.on('error', reject);
          req.end(body);
        });
      const framed = (flag: number, payload: Buffer): Buffer => {
        const head = Buffer.alloc(5);
        head[0] = flag;
        head.writeUInt32BE(payload.length, 1);
        return Buffer.concat([head, payload]);
      };
      const garbage = await raw('/hashmailrpc.HashMail/NewCipherBox', framed(0, Buffer.from([0x0a, 0xff, 0xff])));
      assert.equal(garbage['grpc-status'], '13');
      assert.match(decodeURIComponent(String(garbage['grpc-message'])), /error unmarshalling request/);
      const compressed = await raw('/hashmailrpc.HashMail/RecvStream', framed(1, Buffer.from([0x0a, 0x00])));
      assert.equal(compressed['grpc-status'], '12');
      const unknown = await raw('/hashmailrpc.HashMail/Nope', framed(0, Buffer.alloc(0)));
      assert.equal(unknown['grpc-status'], '12');
      const oversize = await raw('/hashmailrpc.HashMail/SendStream', Buffer.from([0, 0xff, 0xff, 0xff, 0xff]));
      assert.equal(oversize['grpc-status'], '8');
    } finally {
      session.close();
    }
    // The server still serves.
    const id = newId();
    await call((cb) => run.client.NewCipherBox(auth(id), cb));
    await call((cb) => run.client.DelCipherBox(auth(id), cb));
  });

  test('WebSockets: /receive sends {"result":…} frames, /send takes CipherBox JSON, errors are {"error":…} with the reference text', async () => {
    const id = newId();
    await call((cb) => run.client.NewCipherBox(auth(id), cb));
    const receive = await ws(run.port, 'receive');
    // protojson's input: the JSON name and URL-safe unpadded base64 are read too.
    receive.send(JSON.stringify({ streamId: id.toString('base64url') }));
    const send = await ws(run.port, 'send');
    const frame = nextText(receive);
    send.send(JSON.stringify({ desc: { stream_id: id.toString('base64') }, msg: Buffer.from('hello').toString('base64') }));
    assert.equal(
      await frame,
      `{"result":{"desc":{"stream_id":"${id.toString('base64')}"},"msg":"${Buffer.from('hello').toString('base64')}"}}`,
    );

    // A second receiver of the same stream: the error frame, then the socket closes.
    const second = await ws(run.port, 'receive');
    const secondClosed = closed(second);
    const errorFrame = nextText(second);
    second.send(JSON.stringify({ stream_id: id.toString('base64') }));
    assert.equal(await errorFrame, '{"error":{"code":2,"message":"read stream occupied","details":[]}}');
    await secondClosed;

    // An unknown stream, and JSON that is not a CipherBox.
    const lost = await ws(run.port, 'receive');
    const lostFrame = nextText(lost);
    lost.send(JSON.stringify({ stream_id: newId().toString('base64') }));
    assert.equal(await lostFrame, '{"error":{"code":2,"message":"stream not found","details":[]}}');
    const junk = await ws(run.port, 'send');
    const junkFrame = nextText(junk);
    junk.send('{"desc":{"stream_id":"***"}}');
    assert.deepEqual(JSON.parse(await junkFrame), { code: 2, message: 'CipherBox.desc.stream_id: invalid base64', details: [] });

    // The sender leaves abruptly: its slot comes back, and a new sender is served.
    send.terminate();
    await closed(send);
    const send2 = await ws(run.port, 'send');
    const frame2 = nextText(receive);
    send2.send(JSON.stringify({ desc: { stream_id: id.toString('base64') }, msg: Buffer.from('again').toString('base64') }));
    assert.match(await frame2, /"msg":"YWdhaW4="/);
    for (const s of [receive, send2, lost, junk]) s.close();
    await call((cb) => run.client.DelCipherBox(auth(id), cb));
  });

  test('CORS: a preflight with an Origin gets the reference headers and no body; REST creates and deletes a stream', async () => {
    const h1 = (method: string, path: string, headers: Record<string, string>, body?: string) =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const length = body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) };
        const req = httpRequest({ host: '127.0.0.1', port: run.port, method, path, headers: { ...headers, ...length } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        });
        req.on('error', reject);
        req.end(body);
      });
    const pre = await h1('OPTIONS', '/v1/lightning-node-connect/hashmail/receive?method=POST', {
      origin: 'https://lnc.example',
      'access-control-request-method': 'POST',
    });
    assert.equal(pre.status, 200);
    assert.equal(pre.body, '');
    assert.equal(pre.headers['access-control-allow-origin'], 'https://lnc.example');
    assert.equal(pre.headers['access-control-allow-methods'], 'GET, POST, PUT, DELETE');
    assert.equal(pre.headers['access-control-allow-headers'], 'Content-Type, Accept, Grpc-Metadata-Macaroon');

    const id = newId().toString('base64');
    const body = JSON.stringify({ desc: { stream_id: id }, lnd_auth: {} });
    const created = await h1('POST', '/v1/lightning-node-connect/hashmail', { origin: 'https://lnc.example' }, body);
    assert.equal(created.status, 200, created.body);
    assert.deepEqual(JSON.parse(created.body), { success: { desc: null } });
    assert.equal(created.headers['access-control-allow-origin'], 'https://lnc.example');
    const dup = await h1('POST', '/v1/lightning-node-connect/hashmail', {}, body);
    assert.equal(dup.status, 409);
    assert.deepEqual(JSON.parse(dup.body), { code: 6, message: 'stream already active', details: [] });
    assert.equal((await h1('DELETE', '/v1/lightning-node-connect/hashmail', {}, body)).status, 200);
    const plain = await h1('POST', '/v1/lightning-node-connect/hashmail/receive', {}, '{}');
    assert.equal(plain.status, 501);
  });
});

describe('hashmail timing', () => {
  test('a stream unused for staletimeout is torn down (hashmail_mailbox_count drops); a held one is not', async () => {
    const run = await start('  staletimeout: 300ms\n');
    try {
      const idle = newId();
      const held = newId();
      for (const id of [idle, held]) await call((cb) => run.client.NewCipherBox(auth(id), cb));
      const reader = run.client.RecvStream({ stream_id: held });
      assert.equal(await metric(run, 'hashmail_mailbox_count'), 2);
      for (let i = 0; i < 100 && (await metric(run, 'hashmail_mailbox_count')) !== 1; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await metric(run, 'hashmail_mailbox_count'), 1);
      assert.deepEqual(await ended(run.client.RecvStream({ stream_id: idle })), { code: 2, details: 'stream not found' });
      // The held stream is still there (its reader is served).
      const got = take(reader, 1);
      run.client.SendStream(() => undefined).write({ desc: { stream_id: held }, msg: Buffer.from('alive') });
      assert.equal(Buffer.from((await got)[0]?.['msg'] as Buffer).toString(), 'alive');
      hangUp(reader);
      for (const name of ['active', 'standby', 'inuse']) assert.equal(await metric(run, `hashmail_mailbox_${name}_sessions`), 0);
    } finally {
      await run.close();
    }
  });

  test('readtimeout and writetimeout of the listener do not cut a quiet RecvStream or SendStream; a request message must still come within readtimeout', async () => {
    const run = await start('readtimeout: 200ms\nwritetimeout: 200ms\n');
    try {
      const id = newId();
      await call((cb) => run.client.NewCipherBox(auth(id), cb));
      const reader = run.client.RecvStream({ stream_id: id });
      const writer = run.client.SendStream(() => undefined);
      writer.write({ desc: { stream_id: id }, msg: Buffer.from('first') });
      assert.equal(Buffer.from((await take(reader, 1))[0]?.['msg'] as Buffer).toString(), 'first');
      // Quiet for longer than both timeouts: the calls stay open.
      await new Promise((r) => setTimeout(r, 600));
      const got = take(reader, 1);
      writer.write({ msg: Buffer.from('later') });
      assert.equal(Buffer.from((await got)[0]?.['msg'] as Buffer).toString(), 'later');
      hangUp(reader);
      writer.end();

      // What must still arrive within readtimeout: a RecvStream's request message, and a /receive socket's.
      const session = http2Connect(`http://127.0.0.1:${run.port}`);
      try {
        const stuck = session.request({
          ':method': 'POST',
          ':path': '/hashmailrpc.HashMail/RecvStream',
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        const status = await new Promise<unknown>((resolve) => {
          let headers: Record<string, unknown> = {};
          stuck.on('response', (h) => (headers = { ...h }));
          stuck.on('trailers', (t) => (headers = { ...headers, ...t }));
          stuck.on('data', () => undefined);
          stuck.on('close', () => resolve(headers['grpc-status']));
          stuck.on('error', () => undefined);
          stuck.write(Buffer.from([0, 0, 0, 0]));
        });
        assert.equal(status, '4');
      } finally {
        session.close();
      }
      const silentReceiver = await ws(run.port, 'receive');
      assert.equal(await closed(silentReceiver), 1008);
    } finally {
      await run.close();
    }
  });

  test('wspinginterval and wspongwait act: a WebSocket that answers no ping is closed, one that answers stays', async () => {
    const run = await start('wspinginterval: 150ms\nwspongwait: 100ms\n');
    try {
      const pings: string[] = [];
      const silent = await ws(run.port, 'send', {}, false);
      silent.on('ping', (data: Buffer) => pings.push(data.toString()));
      const alive = await ws(run.port, 'send');
      const started = performance.now();
      await closed(silent);
      const waited = performance.now() - started;
      assert.ok(waited >= 100 && waited < 2000, `closed after ${waited} ms`);
      assert.equal(pings[0], 'are you there?');
      assert.equal(alive.readyState, WebSocket.OPEN);
      alive.close();
      await closed(alive);
    } finally {
      await run.close();
    }
  });

  test('the blocklist applies to the mailbox: a gRPC call and a WebSocket upgrade from a blocked client are refused', async () => {
    const run = await start('blocklist: ["127.0.0.1"]\n');
    try {
      const refused = await failure(call((cb) => run.client.NewCipherBox(auth(newId()), cb)));
      assert.equal(refused.code, 7);
      assert.equal(await metric(run, 'hashmail_mailbox_count'), 0);
      await assert.rejects(ws(run.port, 'receive'), /Unexpected server response: 403/);
    } finally {
      await run.close();
    }
  });
});
