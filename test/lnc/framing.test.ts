// The gbn packet and MsgData codecs against the framing vectors of the LNC design
// brief (§4.3), the upstream codec round trips, and the packets refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { decodeGbnPacket, decodeMsgData, encodeGbnPacket, encodeMsgData, type GbnPacket } from '../../src/lnc/framing.js';

const vectors = JSON.parse(readFileSync(new URL('../fixtures/lnc/lnc-noise-vectors.json', import.meta.url), 'utf8')) as {
  xx_v2: { initiator_writes: string[] };
};
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('gbn packets: the fixed bytes, both ways', () => {
  const cases: Array<[GbnPacket, string]> = [
    [{ type: 'SYN', n: 20 }, '0114'],
    [{ type: 'SYNACK' }, '06'],
    [{ type: 'FIN' }, '05'],
    [{ type: 'ACK', seq: 128 }, '0380'],
    [{ type: 'NACK', seq: 128 }, '0480'],
    [{ type: 'DATA', seq: 10, finalChunk: false, isPing: false, payload: Buffer.from('01020405060764', 'hex') }, '020a000001020405060764'],
    [{ type: 'DATA', seq: 7, finalChunk: false, isPing: true, payload: Buffer.alloc(0) }, '02070001'],
    [{ type: 'DATA', seq: 7, finalChunk: true, isPing: false, payload: Buffer.of(0xaa) }, '02070100aa'],
  ];
  for (const [packet, bytes] of cases) {
    assert.equal(hex(encodeGbnPacket(packet)), bytes, packet.type);
    assert.deepEqual(decodeGbnPacket(Buffer.from(bytes, 'hex')), packet, bytes);
  }
});

test('gbn packets round-trip', () => {
  const packetArb: fc.Arbitrary<GbnPacket> = fc.oneof(
    fc.record({ type: fc.constant('SYN' as const), n: fc.integer({ min: 0, max: 255 }) }),
    fc.constant({ type: 'SYNACK' as const }),
    fc.constant({ type: 'FIN' as const }),
    fc.record({ type: fc.constant('ACK' as const), seq: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ type: fc.constant('NACK' as const), seq: fc.integer({ min: 0, max: 255 }) }),
    fc.record({
      type: fc.constant('DATA' as const),
      seq: fc.integer({ min: 0, max: 255 }),
      finalChunk: fc.boolean(),
      isPing: fc.boolean(),
      payload: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    }),
  );
  // fast-check records have no prototype; the decoder makes plain objects.
  fc.assert(fc.property(packetArb, (packet) => assert.deepEqual(decodeGbnPacket(encodeGbnPacket(packet)), { ...packet })));
});

test('malformed gbn packets are refused, not read past their end', () => {
  for (const bytes of ['', '01', '03', '04', '02', '020a00', '07', 'ff']) {
    assert.throws(() => decodeGbnPacket(Buffer.from(bytes, 'hex')), { code: 'L402_ERR_LNC_PACKET_MALFORMED' }, bytes);
  }
  assert.throws(() => encodeGbnPacket({ type: 'ACK', seq: 256 }), { code: 'L402_ERR_LNC_PACKET_MALFORMED' });
  assert.throws(() => encodeGbnPacket({ type: 'SYN', n: -1 }), { code: 'L402_ERR_LNC_PACKET_MALFORMED' });
});

test('MsgData: version 0, u32 length, payload; round trips as upstream', () => {
  assert.equal(hex(encodeMsgData(Buffer.from('abc'))), '0000000003616263');
  assert.equal(hex(encodeMsgData(Buffer.alloc(0))), '0000000000');
  const upstream = Buffer.concat([Buffer.of(123), Buffer.from('00000005', 'hex'), Buffer.from('hello')]);
  assert.deepEqual(decodeMsgData(upstream), { version: 123, payload: Buffer.from('hello') });
  const payload = Buffer.alloc(31, 9);
  assert.deepEqual(decodeMsgData(encodeMsgData(payload)), { version: 0, payload });
  assert.deepEqual(decodeMsgData(encodeMsgData(Buffer.alloc(0))), { version: 0, payload: Buffer.alloc(0) });
  assert.throws(() => decodeMsgData(Buffer.from('00000000', 'hex')), { code: 'L402_ERR_LNC_PACKET_MALFORMED' });
  assert.throws(() => decodeMsgData(Buffer.from('000000000361', 'hex')), { code: 'L402_ERR_LNC_PACKET_MALFORMED' });
});

test('the first client DATA after the gbn handshake carries XX act 1 in one MsgData (59 bytes)', () => {
  const act1 = Buffer.from(vectors.xx_v2.initiator_writes[0] as string, 'hex');
  const packet = encodeGbnPacket({ type: 'DATA', seq: 0, finalChunk: true, isPing: false, payload: encodeMsgData(act1) });
  assert.equal(packet.length, 59);
  assert.equal(hex(packet.subarray(0, 9)), '020001000000000032');
  assert.equal(hex(packet.subarray(9)), hex(act1));
  const back = decodeGbnPacket(packet);
  assert.equal(back.type, 'DATA');
  if (back.type === 'DATA') assert.deepEqual(decodeMsgData(back.payload).payload, act1);
});
