// The hashmail wire codecs: the protobuf messages against protobufjs reading and
// writing the same proto (an independent codec), protobuf's rules for unknown
// and repeated fields, refusals of malformed bytes; grpc-gateway's JSON as the
// Go client parses it and as protojson reads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import protobuf from 'protobufjs';
import { HashmailError } from '../../src/lnc/hashmail-core.js';
import {
  CIPHER_INIT_SUCCESS,
  HASHMAIL_PROTO,
  decodeCipherBox,
  decodeCipherBoxAuth,
  decodeCipherBoxDesc,
  encodeCipherBox,
  encodeCipherBoxAuth,
  encodeCipherBoxDesc,
} from '../../src/lnc/hashmail-proto.js';
import {
  parseCipherBoxAuthJson,
  parseCipherBoxDescJson,
  parseCipherBoxJson,
  receiveResultJson,
  streamErrorJson,
} from '../../src/lnc/hashmail-json.js';

const root = protobuf.parse(HASHMAIL_PROTO, { keepCase: true }).root;
const Box = root.lookupType('hashmailrpc.CipherBox');
const Auth = root.lookupType('hashmailrpc.CipherBoxAuth');
const Desc = root.lookupType('hashmailrpc.CipherBoxDesc');
const Init = root.lookupType('hashmailrpc.CipherInitResp');

test('CipherBox, CipherBoxDesc and CipherBoxAuth agree with protobufjs both ways, for sizes across varint boundaries', () => {
  for (const size of [0, 1, 127, 128, 16383, 16384, 70000]) {
    const id = randomBytes(64);
    const msg = randomBytes(size);
    const ours = encodeCipherBox(id, msg);
    const theirs = Box.toObject(Box.decode(ours)) as { desc: { stream_id: Uint8Array }; msg?: Uint8Array };
    assert.ok(Buffer.from(theirs.desc.stream_id).equals(id));
    assert.ok(Buffer.from(theirs.msg ?? []).equals(msg));
    const back = decodeCipherBox(Box.encode(Box.fromObject({ desc: { stream_id: id }, msg })).finish());
    assert.ok(Buffer.from(back.desc?.stream_id ?? []).equals(id));
    assert.ok(Buffer.from(back.msg).equals(msg));
  }
  const id = randomBytes(64);
  assert.ok(Buffer.from((Desc.toObject(Desc.decode(encodeCipherBoxDesc(id))) as { stream_id: Uint8Array }).stream_id).equals(id));
  const auth = Auth.toObject(Auth.decode(encodeCipherBoxAuth(id)), { oneofs: true }) as { auth?: string };
  assert.equal(auth.auth, 'lnd_auth');
  assert.deepEqual(decodeCipherBoxAuth(Auth.encode(Auth.fromObject({ desc: { stream_id: id }, lnd_auth: {} })).finish()).auth, {
    lnd_auth: {},
  });
  assert.equal(decodeCipherBoxAuth(Auth.encode(Auth.fromObject({ desc: { stream_id: id } })).finish()).auth, undefined);
  assert.equal((Init.toObject(Init.decode(CIPHER_INIT_SUCCESS), { oneofs: true }) as { resp?: string }).resp, 'success');
});

test('unknown fields of every wire type are skipped; a repeated bytes field keeps the last value', () => {
  const id = randomBytes(64);
  const unknown = Buffer.from([
    (9 << 3) | 0,
    0x96,
    0x01, // varint
    (10 << 3) | 1,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8, // fixed64
    (11 << 3) | 5,
    1,
    2,
    3,
    4, // fixed32
    (12 << 3) | 2,
    2,
    0xaa,
    0xbb, // bytes
  ]);
  const box = decodeCipherBox(Buffer.concat([unknown, encodeCipherBox(id, Buffer.from('first')), Buffer.from([0x12, 1, 0x78])]));
  assert.ok(Buffer.from(box.desc?.stream_id ?? []).equals(id));
  assert.equal(Buffer.from(box.msg).toString(), 'x');
});

test('malformed bytes are a HashmailError with gRPC 13, never another exception', () => {
  const bad = [
    Buffer.from([0x0a, 0x05, 1]), // length past the end
    Buffer.from([0x0a]), // key without a length
    Buffer.from([0x0b]), // wire type 3 (groups)
    Buffer.from([0x00, 0x01]), // field 0
    Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // overlong varint
    Buffer.from([0x08]), // truncated varint
    Buffer.from([0x09, 1, 2]), // truncated fixed64
    Buffer.from([0x08, 0x01, 0x0a, 0x01, 0x08]), // desc whose varint field is cut
    Buffer.from([0x10, 0x01]), // msg as a varint
  ];
  for (const bytes of bad) {
    for (const decode of [decodeCipherBox, decodeCipherBoxAuth, decodeCipherBoxDesc]) {
      let caught: unknown;
      try {
        decode(bytes);
      } catch (error) {
        caught = error;
      }
      if (caught === undefined) continue; // some bytes are valid for another message (field 2 is not msg there)
      assert.ok(caught instanceof HashmailError, `${bytes.toString('hex')}: ${String(caught)}`);
      assert.equal(caught.grpcCode, 13);
    }
  }
  assert.throws(() => decodeCipherBox(Buffer.from([0x0a, 0x05, 1])), HashmailError);
  assert.throws(() => decodeCipherBoxDesc(Buffer.from([0x0b])), HashmailError);
});

test('the JSON frames: compact, no newline, matched by the Go client regexps; errors carry the exact text', () => {
  const id = randomBytes(64);
  const msg = randomBytes(300);
  const frame = receiveResultJson(id, msg);
  assert.ok(!frame.includes('\n') && !frame.includes(' '));
  const inner = /{"result":(.*)}/.exec(frame)?.[1];
  assert.deepEqual(JSON.parse(inner ?? ''), { desc: { stream_id: id.toString('base64') }, msg: msg.toString('base64') });
  assert.equal(streamErrorJson(2, 'stream not found'), '{"error":{"code":2,"message":"stream not found","details":[]}}');
});

test('protojson input: proto or JSON names, standard or URL-safe base64 with or without padding, null fields; refusals', () => {
  const id = Buffer.from(randomBytes(64));
  id[0] = 0xfb; // makes + and / (or - and _) appear
  for (const text of [id.toString('base64'), id.toString('base64url'), id.toString('base64').replace(/=+$/, '')]) {
    assert.ok(Buffer.from(parseCipherBoxDescJson(JSON.stringify({ stream_id: text })).stream_id ?? []).equals(id));
    assert.ok(Buffer.from(parseCipherBoxDescJson(JSON.stringify({ streamId: text })).stream_id ?? []).equals(id));
  }
  assert.deepEqual(parseCipherBoxJson('{"desc":null,"msg":null}').msg.length, 0);
  assert.equal(parseCipherBoxJson('{"msg":"aGk="}').desc, undefined);
  assert.ok(parseCipherBoxAuthJson('{"desc":{"stream_id":"AA=="},"lndAuth":{}}').auth !== undefined);
  assert.equal(parseCipherBoxAuthJson('{"desc":{"stream_id":"AA=="}}').auth, undefined);
  for (const [parse, text, message] of [
    [parseCipherBoxDescJson, 'not json', /not JSON/],
    [parseCipherBoxDescJson, '[]', /JSON object/],
    [parseCipherBoxDescJson, '{"stream_id":5}', /base64 string/],
    [parseCipherBoxDescJson, '{"stream_id":"a"}', /invalid base64/],
    [parseCipherBoxDescJson, '{"stream_id":"ab$d"}', /invalid base64/],
    [parseCipherBoxDescJson, '{"stream_id":"AA==","streamId":"AA=="}', /given twice/],
    [parseCipherBoxJson, '{"desc":{},"extra":1}', /unknown field "extra"/],
    [parseCipherBoxAuthJson, '{"lnd_auth":{"x":1}}', /unknown field "x"/],
  ] as const) {
    assert.throws(
      () => parse(text),
      (error: unknown) => error instanceof HashmailError && error.code === 'L402_ERR_HASHMAIL_BAD_REQUEST' && message.test(error.message),
      text,
    );
  }
});
