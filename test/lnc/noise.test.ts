// The Noise machine of Lightning Node Connect against the transcripts the
// reference Go code produced (test/fixtures/lnc/lnc-noise-vectors.json), in both
// roles, with injected ephemeral keys; then the round trips and failures the
// upstream noise tests pin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { L402Error } from '../../src/core/errors.js';
import { pairingPhraseToEntropy, stretchPairingEntropy } from '../../src/lnc/pairing-phrase.js';
import { NoiseHandshake, NoiseTransport, type NoiseHandshakeOptions } from '../../src/lnc/noise.js';
import { publicKeyOf } from '../../src/lnc/secp256k1.js';
import { sessionId } from '../../src/lnc/session-id.js';

interface Transcript {
  initiator_writes: string[];
  responder_writes: string[];
  auth_received_by_initiator: string;
}
interface Extra {
  sid_after_initiator: string;
  sid_after_responder: string;
  t_msg0?: string;
  t_msg499?: string;
  t_msg500?: string;
  t_msg501?: string;
  t_sha256_all_502?: string;
  r_msg0?: string;
  r_msg0_plain?: string;
}
const vectors = JSON.parse(readFileSync(new URL('../fixtures/lnc/lnc-noise-vectors.json', import.meta.url), 'utf8')) as {
  initiator_static_pub: string;
  responder_static_pub: string;
  sid_xx: string;
  xx_v2: Transcript;
  xx_v2_extra: Extra;
  kk_v2: Transcript;
  kk_v2_extra: Extra;
  xx_v0: Transcript;
  xx_v0_extra: Extra;
};

const PHRASE = 'satoshi light zoo abandon tiger bridge ocean piano hammer wolf';
const AUTH = Buffer.from('Macaroon: 0201036c6e6402');
const fill = (byte: number): Buffer => Buffer.alloc(32, byte);
const INITIATOR_SECRET = fill(0x11);
const RESPONDER_SECRET = fill(0x22);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Buffer => Buffer.from(s, 'hex');

const entropy = pairingPhraseToEntropy(PHRASE);
const pairingSecret = await stretchPairingEntropy(entropy);

function once(secret: Buffer): () => Buffer {
  let used = false;
  return () => {
    assert.equal(used, false, 'one ephemeral key per handshake');
    used = true;
    return secret;
  };
}

function initiator(pattern: 'XX' | 'KK', extra: Partial<NoiseHandshakeOptions> = {}): NoiseHandshake {
  return new NoiseHandshake({
    initiator: true,
    pattern,
    localStaticSecret: INITIATOR_SECRET,
    remoteStatic: pattern === 'KK' ? unhex(vectors.responder_static_pub) : undefined,
    pairingSecret: pattern === 'XX' ? pairingSecret : undefined,
    ephemeral: once(fill(pattern === 'XX' ? 0x33 : 0x55)),
    minVersion: 0,
    maxVersion: 2,
    ...extra,
  });
}

function responder(pattern: 'XX' | 'KK', extra: Partial<NoiseHandshakeOptions> = {}): NoiseHandshake {
  return new NoiseHandshake({
    initiator: false,
    pattern,
    localStaticSecret: RESPONDER_SECRET,
    remoteStatic: pattern === 'KK' ? unhex(vectors.initiator_static_pub) : undefined,
    pairingSecret: pattern === 'XX' ? pairingSecret : undefined,
    ephemeral: once(fill(pattern === 'XX' ? 0x44 : 0x66)),
    authData: AUTH,
    minVersion: 0,
    maxVersion: 2,
    ...extra,
  });
}

test('the static keys of the vectors', () => {
  assert.equal(hex(publicKeyOf(INITIATOR_SECRET)), vectors.initiator_static_pub);
  assert.equal(hex(publicKeyOf(RESPONDER_SECRET)), vectors.responder_static_pub);
});

/** Plays our side against the recorded bytes of the other; returns our transport and the result. */
function replay(ours: NoiseHandshake, oursWrites: string[], theirWrites: string[]): NoiseHandshake {
  let w = 0;
  let r = 0;
  for (let step = ours.nextStep(); step !== 'done'; step = ours.nextStep()) {
    if (step === 'write') assert.equal(hex(ours.writeAct()), oursWrites[w++], `act written #${w}`);
    else if (step === 'read') ours.readAct(unhex(theirWrites[r++] as string));
    else assert.fail(`unexpected step ${step}`);
  }
  assert.equal(w, oursWrites.length);
  return ours;
}

function checkTransport(transport: NoiseTransport, extra: Extra, role: 'initiator' | 'responder'): void {
  if (role === 'initiator') {
    const all: Buffer[] = [];
    for (let i = 0; i < 502; i++) {
      const message = transport.encrypt(Buffer.from(`msg-${i}`));
      all.push(message);
      const expected = (extra as unknown as Record<string, string | undefined>)[`t_msg${i}`];
      if (expected !== undefined) assert.equal(hex(message), expected, `msg-${i}`);
    }
    assert.equal(createHash('sha256').update(Buffer.concat(all)).digest('hex'), extra.t_sha256_all_502);
    assert.equal(transport.decrypt(unhex(extra.r_msg0 as string)).toString(), extra.r_msg0_plain);
  } else {
    // The responder reads the initiator's 502 messages, across the key rotation.
    for (let i = 0; i < 502; i++) {
      const expected = (extra as unknown as Record<string, string | undefined>)[`t_msg${i}`];
      // Messages the vectors do not list are produced by a twin initiator below.
      if (expected !== undefined) assert.equal(transport.decrypt(unhex(expected)).toString(), `msg-${i}`);
      else transport.decrypt(twinMessages[i] as Buffer);
    }
    assert.equal(hex(transport.encrypt(Buffer.from(extra.r_msg0_plain as string))), extra.r_msg0);
  }
}

// The initiator's messages the vectors give only as a hash, recomputed by our
// initiator (itself checked against every listed message and the hash).
let twinMessages: Buffer[] = [];
function twin(pattern: 'XX' | 'KK', transcript: Transcript): void {
  const t = replay(initiator(pattern), transcript.initiator_writes, transcript.responder_writes).split();
  twinMessages = Array.from({ length: 502 }, (_, i) => t.encrypt(Buffer.from(`msg-${i}`)));
}

test('XX v2: entropy, SID and stream-independent values', () => {
  assert.equal(hex(sessionId({ entropy })), vectors.sid_xx);
});

for (const [name, pattern, transcript, extra, max] of [
  ['XX v2', 'XX', vectors.xx_v2, vectors.xx_v2_extra, 2],
  ['KK v2', 'KK', vectors.kk_v2, vectors.kk_v2_extra, 2],
  ['XX v0', 'XX', vectors.xx_v0, vectors.xx_v0_extra, 0],
] as const) {
  const version = max;
  test(`${name}: our initiator against the recorded responder, byte for byte`, () => {
    const ours = replay(initiator(pattern), transcript.initiator_writes, transcript.responder_writes);
    const result = ours.result();
    assert.equal(result.version, version);
    assert.equal(result.authData.toString(), transcript.auth_received_by_initiator);
    assert.equal(hex(result.remoteStatic), vectors.responder_static_pub);
    assert.equal(result.persistRemote, version >= 2);
    const sid = sessionId(
      result.persistRemote ? { entropy, localSecret: INITIATOR_SECRET, remoteStatic: result.remoteStatic } : { entropy },
    );
    assert.equal(hex(sid), extra.sid_after_initiator);
    if (extra.t_msg0 !== undefined) checkTransport(ours.split(), extra, 'initiator');
  });

  test(`${name}: our responder against the recorded initiator, byte for byte`, () => {
    if (extra.t_msg0 !== undefined) twin(pattern, transcript);
    // The recorded responder writes the act, then its transport message(s): only the first element is an act.
    const acts = transcript.responder_writes.slice(0, 1);
    const ours = replay(responder(pattern, { maxVersion: max }), acts, transcript.initiator_writes);
    const result = ours.result();
    assert.equal(result.version, version);
    assert.equal(result.authData.length, 0, 'the responder receives no auth data');
    assert.equal(hex(result.remoteStatic), vectors.initiator_static_pub);
    const sid = sessionId(
      result.persistRemote ? { entropy, localSecret: RESPONDER_SECRET, remoteStatic: result.remoteStatic } : { entropy },
    );
    assert.equal(hex(sid), extra.sid_after_responder);
    if (extra.t_msg0 !== undefined) {
      const transport = ours.split();
      // The recorded responder's first transport message is its header and body, written separately.
      assert.equal(hex(Buffer.concat(transcript.responder_writes.slice(1).map(unhex))), extra.r_msg0);
      checkTransport(transport, extra, 'responder');
    }
  });
}

test('XX v0: act 2 has 599 bytes and the hash of the record', () => {
  const act2 = unhex(vectors.xx_v0.responder_writes[0] as string);
  assert.equal(act2.length, 599);
  assert.equal(createHash('sha256').update(act2).digest('hex'), 'cfdf5a620b7b946ec72bda061292da572daf6c86e9f083e1d3cc8198a997215b');
});

/** Runs a whole handshake between two of our machines. */
function handshake(a: NoiseHandshake, b: NoiseHandshake): void {
  for (;;) {
    const sa = a.nextStep();
    const sb = b.nextStep();
    if (sa === 'done' && sb === 'done') return;
    if (sa === 'write') b.readAct(a.writeAct());
    else if (sb === 'write') a.readAct(b.writeAct());
    else assert.fail(`stuck: ${sa}/${sb}`);
  }
}

test('the version matrix of the upstream handshake test, with large auth data from v1', () => {
  const big = Buffer.alloc(3 * 1024 * 1024, 0x6b);
  for (const [rMin, rMax, iMin, iMax, expected, auth] of [
    [0, 0, 0, 0, 0, AUTH],
    [1, 1, 1, 1, 1, big],
    [0, 0, 0, 1, 0, AUTH],
    [0, 1, 0, 1, 1, big],
    [0, 2, 0, 2, 2, AUTH],
  ] as const) {
    const i = initiator('XX', { minVersion: iMin, maxVersion: iMax, ephemeral: undefined });
    const r = responder('XX', { minVersion: rMin, maxVersion: rMax, ephemeral: undefined, authData: auth });
    handshake(i, r);
    assert.equal(i.result().version, expected);
    assert.equal(r.result().version, expected);
    assert.ok(i.result().authData.equals(auth));
    const ti = i.split();
    const tr = r.split();
    for (let n = 0; n < 10; n++) {
      assert.equal(tr.decrypt(ti.encrypt(Buffer.from(`ping ${n}`))).toString(), `ping ${n}`);
      assert.equal(ti.decrypt(tr.encrypt(Buffer.from(`pong ${n}`))).toString(), `pong ${n}`);
    }
    if (expected === 2) {
      // Then a KK re-handshake with the keys each side learnt.
      const ki = new NoiseHandshake({
        initiator: true,
        pattern: 'KK',
        localStaticSecret: INITIATOR_SECRET,
        remoteStatic: i.result().remoteStatic,
      });
      const kr = new NoiseHandshake({
        initiator: false,
        pattern: 'KK',
        localStaticSecret: RESPONDER_SECRET,
        remoteStatic: r.result().remoteStatic,
        authData: AUTH,
      });
      handshake(ki, kr);
      assert.equal(ki.result().authData.toString(), AUTH.toString());
      assert.equal(
        kr
          .split()
          .decrypt(ki.split().encrypt(Buffer.from('again')))
          .toString(),
        'again',
      );
    }
  }
});

test('version 0 refuses auth data it cannot carry', () => {
  const r = responder('XX', { maxVersion: 0, authData: Buffer.alloc(499) });
  r.readAct(initiator('XX').writeAct());
  assert.throws(() => r.writeAct(), { code: 'L402_ERR_LNC_MESSAGE_TOO_LARGE' });
  assert.equal(r.nextStep(), 'failed');
});

test('auth data above the limit is refused on both sides', () => {
  const r = responder('XX', { authData: Buffer.alloc(2000), ephemeral: undefined });
  const i = initiator('XX', { maxAuthDataBytes: 1000, ephemeral: undefined });
  r.readAct(i.writeAct());
  assert.throws(() => i.readAct(r.writeAct()), { code: 'L402_ERR_LNC_MESSAGE_TOO_LARGE' });
  const r2 = responder('XX', { authData: Buffer.alloc(2000), maxAuthDataBytes: 1000 });
  r2.readAct(initiator('XX').writeAct());
  assert.throws(() => r2.writeAct(), { code: 'L402_ERR_LNC_MESSAGE_TOO_LARGE' });
});

test('a wrong pairing phrase fails act 1 on the responder', async () => {
  const other = await stretchPairingEntropy(pairingPhraseToEntropy('satoshi light zoo abandon tiger bridge ocean piano hammer zoo'));
  const r = responder('XX', { pairingSecret: other });
  assert.throws(
    () => r.readAct(unhex(vectors.xx_v2.initiator_writes[0] as string)),
    (error: unknown) => {
      assert.ok(error instanceof L402Error);
      assert.equal(error.code, 'L402_ERR_LNC_HANDSHAKE_FAILED');
      assert.match(error.message, /act 1 payload does not authenticate/);
      return true;
    },
  );
  assert.equal(r.nextStep(), 'failed');
  assert.throws(() => r.writeAct(), { code: 'L402_ERR_LNC_HANDSHAKE_FAILED', message: /earlier step failed/ });
});

test('a tampered byte in any act fails its MAC', () => {
  const acts = [vectors.xx_v2.initiator_writes[0], vectors.xx_v2.responder_writes[0], vectors.xx_v2.initiator_writes[1]].map((a) =>
    unhex(a as string),
  );
  for (const [index, act] of acts.entries()) {
    // Flip a byte of the final MAC and a byte in the middle.
    for (const position of [act.length - 1, Math.floor(act.length / 2)]) {
      const ours = index === 1 ? initiator('XX') : responder('XX');
      if (index === 1) ours.writeAct();
      if (index === 2) {
        ours.readAct(acts[0] as Buffer);
        ours.writeAct();
      }
      const bad = Buffer.from(act);
      bad[position] = (bad[position] as number) ^ 0x01;
      assert.throws(() => ours.readAct(bad), { code: 'L402_ERR_LNC_HANDSHAKE_FAILED' }, `act ${index + 1} byte ${position}`);
    }
  }
});

test('tampered transport bytes fail, and the transport stays failed', () => {
  const ours = replay(initiator('XX'), vectors.xx_v2.initiator_writes, vectors.xx_v2.responder_writes).split();
  const message = unhex(vectors.xx_v2_extra.r_msg0 as string);
  message[20] = (message[20] as number) ^ 0x80;
  assert.throws(() => ours.decrypt(message), { code: 'L402_ERR_LNC_DECRYPT_FAILED' });
  assert.throws(() => ours.decrypt(unhex(vectors.xx_v2_extra.r_msg0 as string)), { code: 'L402_ERR_LNC_DECRYPT_FAILED' });
});

test('unsupported versions are refused', () => {
  // Act 1 at version 0 to a responder accepting only 1-2.
  const r = responder('XX', { minVersion: 1 });
  assert.throws(() => r.readAct(unhex(vectors.xx_v2.initiator_writes[0] as string)), {
    code: 'L402_ERR_LNC_VERSION_UNSUPPORTED',
    message: /act 1 has version 0, outside the accepted 1-2/,
  });
  // Act 2 at version 2 to an initiator accepting only 0-1.
  const i = initiator('XX', { maxVersion: 1 });
  i.writeAct();
  assert.throws(() => i.readAct(unhex(vectors.xx_v2.responder_writes[0] as string)), { code: 'L402_ERR_LNC_VERSION_UNSUPPORTED' });
  // An unknown version byte.
  const act1 = unhex(vectors.xx_v2.initiator_writes[0] as string);
  act1[0] = 3;
  assert.throws(() => responder('XX').readAct(act1), { code: 'L402_ERR_LNC_VERSION_UNSUPPORTED' });
  // Ranges this implementation cannot speak, and KK below version 2.
  for (const range of [{ maxVersion: 3 }, { minVersion: 2, maxVersion: 1 }, { minVersion: -1 }]) {
    assert.throws(() => initiator('XX', range), { code: 'L402_ERR_LNC_VERSION_UNSUPPORTED' }, JSON.stringify(range));
  }
  assert.throws(() => initiator('KK', { maxVersion: 1 }), { code: 'L402_ERR_LNC_VERSION_UNSUPPORTED' });
  // KK raises the minimum to 2: its act 1 carries version 2 even when 0 is allowed.
  assert.equal(initiator('KK', { minVersion: 0 }).writeAct()[0], 2);
});

test('an act 3 whose version differs from the agreed one is refused', () => {
  const r = responder('XX');
  r.readAct(unhex(vectors.xx_v2.initiator_writes[0] as string));
  r.writeAct();
  const act3 = unhex(vectors.xx_v2.initiator_writes[1] as string);
  act3[0] = 1;
  assert.throws(() => r.readAct(act3), { code: 'L402_ERR_LNC_VERSION_UNSUPPORTED', message: /act 3 has version 1, not the agreed 2/ });
});

test('a body above 65535 bytes is refused; 65535 passes', () => {
  const i = initiator('XX', { ephemeral: undefined });
  const r = responder('XX', { ephemeral: undefined });
  handshake(i, r);
  const ti = i.split();
  const tr = r.split();
  assert.throws(() => ti.encrypt(Buffer.alloc(65_536)), { code: 'L402_ERR_LNC_MESSAGE_TOO_LARGE' });
  const max = Buffer.alloc(65_535, 7);
  const sealed = ti.encrypt(max);
  assert.equal(sealed.length, 18 + 65_535 + 16);
  assert.equal(tr.decryptHeader(sealed.subarray(0, 18)), 65_535 + 16);
  assert.ok(tr.decryptBody(sealed.subarray(18)).equals(max));
});

test('acts of the wrong length and steps out of turn are refused', () => {
  const act1 = unhex(vectors.xx_v2.initiator_writes[0] as string);
  assert.throws(() => responder('XX').readAct(act1.subarray(0, 49)), { code: 'L402_ERR_LNC_HANDSHAKE_FAILED', message: /too short/ });
  assert.throws(() => responder('XX').readAct(Buffer.concat([act1, Buffer.of(0)])), {
    code: 'L402_ERR_LNC_HANDSHAKE_FAILED',
    message: /trailing/,
  });
  const notAPoint = Buffer.from(act1);
  notAPoint[1] = 0x05;
  assert.throws(() => responder('XX').readAct(notAPoint), { code: 'L402_ERR_LNC_HANDSHAKE_FAILED', message: /not a secp256k1 point/ });
  assert.throws(() => responder('XX').writeAct(), { code: 'L402_ERR_LNC_HANDSHAKE_FAILED' });
  assert.throws(() => initiator('XX').readAct(act1), { code: 'L402_ERR_LNC_HANDSHAKE_FAILED' });
  assert.throws(() => initiator('XX').split(), { code: 'L402_ERR_LNC_HANDSHAKE_FAILED', message: /not finished/ });
});

test('missing or invalid keys are refused up front', () => {
  assert.throws(() => initiator('XX', { pairingSecret: undefined }), { code: 'L402_ERR_LNC_KEY_INVALID' });
  assert.throws(() => initiator('KK', { remoteStatic: undefined }), { code: 'L402_ERR_LNC_KEY_INVALID' });
  assert.throws(() => initiator('KK', { remoteStatic: Buffer.concat([Buffer.of(2), Buffer.alloc(32, 0xff)]) }), {
    code: 'L402_ERR_LNC_KEY_INVALID',
  });
  assert.throws(() => initiator('XX', { localStaticSecret: Buffer.alloc(32) }), { code: 'L402_ERR_LNC_KEY_INVALID' });
  assert.throws(() => initiator('XX', { localStaticSecret: Buffer.alloc(31, 1) }), { code: 'L402_ERR_LNC_KEY_INVALID' });
  // An ephemeral generator giving an invalid key fails the act, not the process.
  const i = initiator('XX', { ephemeral: () => Buffer.alloc(32, 0xff) });
  assert.throws(() => i.writeAct(), { code: 'L402_ERR_LNC_HANDSHAKE_FAILED' });
});

test('byte streams: bodies cut at 32 KiB on the way out, any cut of the bytes read back', () => {
  const i = initiator('XX', { ephemeral: undefined });
  const r = responder('XX', { ephemeral: undefined });
  handshake(i, r);
  const ti = i.split();
  const tr = r.split();
  const data = Buffer.alloc(100_000);
  for (let n = 0; n < data.length; n++) data[n] = n % 253;
  const sealed = ti.encryptStream(data);
  // 32768 + 32768 + 32768 + 1696: four messages.
  assert.equal(sealed.length, data.length + 4 * (18 + 16));
  assert.equal(ti.encryptStream(Buffer.alloc(0)).length, 0);
  const bodies: Buffer[] = [];
  for (let offset = 0; offset < sealed.length; offset += 7777) bodies.push(...tr.feed(sealed.subarray(offset, offset + 7777)));
  assert.deepEqual(
    bodies.map((b) => b.length),
    [32_768, 32_768, 32_768, 1696],
  );
  assert.ok(Buffer.concat(bodies).equals(data));
  // Byte by byte, then a tampered stream fails and stays failed.
  const one = ti.encrypt(Buffer.from('tiny'));
  const got: Buffer[] = [];
  for (const byte of one) got.push(...tr.feed(Buffer.of(byte)));
  assert.deepEqual(got.map(String), ['tiny']);
  const bad = ti.encrypt(Buffer.from('x'));
  bad[0] = (bad[0] as number) ^ 1;
  assert.throws(() => tr.feed(bad), { code: 'L402_ERR_LNC_DECRYPT_FAILED' });
  assert.throws(() => tr.feed(Buffer.alloc(1)), { code: 'L402_ERR_LNC_DECRYPT_FAILED' });
});

test('bytes fed one at a time cost linear time, not a copy of everything pending per byte (a hostile mailbox can cut them so)', () => {
  const i = initiator('XX', { ephemeral: undefined });
  const r = responder('XX', { ephemeral: undefined });
  handshake(i, r);
  const ti = i.split();
  const tr = r.split();
  const body = Buffer.alloc(65_535, 7);
  const sealed = Buffer.concat([ti.encrypt(body), ti.encrypt(body)]);
  // Count the bytes Buffer.concat copies while feeding.
  let copied = 0;
  const concat = Buffer.concat;
  Buffer.concat = ((list: readonly Uint8Array[], totalLength?: number) => {
    const out = concat(list, totalLength);
    copied += out.length;
    return out;
  }) as typeof Buffer.concat;
  const got: Buffer[] = [];
  try {
    for (let n = 0; n < sealed.length; n++) got.push(...tr.feed(sealed.subarray(n, n + 1)));
  } finally {
    Buffer.concat = concat;
  }
  assert.deepEqual(
    got.map((b) => b.length),
    [65_535, 65_535],
  );
  assert.ok(got.every((b) => b.equals(body)));
  // Linear: each byte is joined about once (copying everything pending for each byte fed is about 4 GB here).
  assert.ok(copied <= 2 * sealed.length, `${copied} bytes copied for ${sealed.length} fed`);
});

test('the recorded responder sends header and body as two writes; fed as they came, they give one body', () => {
  const ours = replay(initiator('KK'), vectors.kk_v2.initiator_writes, vectors.kk_v2.responder_writes.slice(0, 1)).split();
  const [header, body] = vectors.kk_v2.responder_writes.slice(1).map(unhex);
  assert.deepEqual(ours.feed(header as Buffer), []);
  assert.deepEqual(ours.feed(body as Buffer).map(String), ['hello aperture']);
});
