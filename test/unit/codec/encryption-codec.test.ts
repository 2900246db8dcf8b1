import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import {
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  KEY_ID_METADATA,
  MissingCodecKeyError,
  PayloadDecryptionError,
} from '../../../codec/encryption-codec';
import { parseCodecKeys } from '../../../codec/keys';

const b64 = (b: Buffer) => b.toString('base64');
const keyA = randomBytes(32);
const keyB = randomBytes(32);
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString('utf8');

const PROMPT = 'an unreleased linen armchair, catalog 2027';
const plain = (value: unknown): Payload => defaultPayloadConverter.toPayload(value)!;

test('a round trip gives back the same payloads, metadata and all, while the encoded ones hold no plaintext', async () => {
  const codec = new EncryptionCodec(parseCodecKeys({ current: `a:${b64(keyA)}` }));
  const inputs = [plain({ prompt: PROMPT, n: 1 }), plain(undefined), plain(new Uint8Array([1, 2, 3])), plain('x'.repeat(100_000))];
  inputs[0]!.metadata!.custom = Buffer.from('kept');
  const encoded = await codec.encode(inputs);
  expect(encoded).toHaveLength(inputs.length);
  for (const p of encoded) {
    expect(Object.keys(p.metadata!).sort()).toEqual([KEY_ID_METADATA, METADATA_ENCODING_KEY].sort());
    expect(text(p.metadata![METADATA_ENCODING_KEY])).toBe(ENCRYPTED_ENCODING);
    expect(text(p.metadata![KEY_ID_METADATA])).toBe('a');
  }
  expect(Buffer.from(encoded[0]!.data!).includes(Buffer.from('linen'))).toBe(false);
  expect(Buffer.from(encoded[0]!.data!).includes(Buffer.from('json/plain'))).toBe(false);

  const decoded = await codec.decode(encoded);
  expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([
    { prompt: PROMPT, n: 1 },
    undefined,
    new Uint8Array([1, 2, 3]),
    'x'.repeat(100_000),
  ]);
  expect(text(decoded[0]!.metadata!.custom)).toBe('kept');
  expect(text(decoded[0]!.metadata![METADATA_ENCODING_KEY])).toBe('json/plain');
});

test('each payload gets its own nonce: the same value encrypts differently every time', async () => {
  const codec = new EncryptionCodec(parseCodecKeys({ current: b64(keyA) }));
  const [x, y] = await codec.encode([plain(PROMPT), plain(PROMPT)]);
  expect(Buffer.from(x!.data!).equals(Buffer.from(y!.data!))).toBe(false);
  expect(Buffer.from(x!.data!).subarray(0, 12).equals(Buffer.from(y!.data!).subarray(0, 12))).toBe(false);
});

test('rotation: a new current key writes under its id, and the old key (now in the old keys) still reads what it wrote', async () => {
  const before = new EncryptionCodec(parseCodecKeys({ current: `2026-01:${b64(keyA)}` }));
  const written = await before.encode([plain({ prompt: PROMPT })]);
  const after = new EncryptionCodec(parseCodecKeys({ current: `2026-07:${b64(keyB)}`, old: [`2026-01:${b64(keyA)}`] }));
  expect((await after.decode(written)).map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([{ prompt: PROMPT }]);
  const rewritten = await after.encode([plain({ prompt: PROMPT })]);
  expect(text(rewritten[0]!.metadata![KEY_ID_METADATA])).toBe('2026-07');
  // A process that only has the old key cannot read the new payloads, and says so.
  await expect(before.decode(rewritten)).rejects.toThrow(
    'encrypted with codec key id "2026-07", which this process does not have (it has "2026-01"): add that key to MJ_BATCH_CODEC_OLD_KEYS (as 2026-07:<base64>), or make it MJ_BATCH_CODEC_KEY',
  );
});

test('only old keys: payloads are written in plain, and old encrypted ones are still read', async () => {
  const writer = new EncryptionCodec(parseCodecKeys({ current: `old:${b64(keyA)}` }));
  const written = await writer.encode([plain(PROMPT)]);
  const reader = new EncryptionCodec(parseCodecKeys({ old: [`old:${b64(keyA)}`] }));
  expect(defaultPayloadConverter.fromPayload((await reader.decode(written))[0]!)).toBe(PROMPT);
  const out = await reader.encode([plain(PROMPT)]);
  expect(text(out[0]!.metadata![METADATA_ENCODING_KEY])).toBe('json/plain');
});

test('an unknown key id is a clear error naming the id and the variables, reported once per id, never showing a key', async () => {
  const writer = new EncryptionCodec(parseCodecKeys({ current: `prod-1:${b64(keyA)}` }));
  const written = await writer.encode([plain(PROMPT)]);
  const reported: string[] = [];
  const reader = new EncryptionCodec(parseCodecKeys({ current: `staging:${b64(keyB)}` }), { onMissingKey: (id) => reported.push(id) });
  const context = { type: 'workflow' as const, namespace: 'default', workflowId: 'batch-1/row-7' };
  const err = await reader.decode(written, context).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(MissingCodecKeyError);
  expect(err).toMatchObject({ keyId: 'prod-1', name: 'MissingCodecKeyError' });
  expect((err as Error).message).toBe(
    'a payload (workflow batch-1/row-7) is encrypted with codec key id "prod-1", which this process does not have (it has "staging"): add that key to MJ_BATCH_CODEC_OLD_KEYS (as prod-1:<base64>), or make it MJ_BATCH_CODEC_KEY',
  );
  await expect(reader.decode(written)).rejects.toThrow(MissingCodecKeyError);
  expect(reported).toEqual(['prod-1']);
  for (const k of [keyA, keyB]) expect((err as Error).message).not.toContain(b64(k));
});

test('no keys: plain payloads pass through untouched, and an encrypted one says which key to set', async () => {
  const none = new EncryptionCodec(undefined);
  const p = plain({ prompt: PROMPT });
  expect(await none.encode([p])).toEqual([p]);
  expect(await none.decode([p])).toEqual([p]);
  const written = await new EncryptionCodec(parseCodecKeys({ current: `k1:${b64(keyA)}` })).encode([p]);
  await expect(none.decode(written)).rejects.toThrow(
    'is encrypted with codec key id "k1", but no codec key is set: set MJ_BATCH_CODEC_KEY (or MJ_BATCH_CODEC_OLD_KEYS) to the key with id "k1"',
  );
});

describe('tampering fails authentication', () => {
  const codec = new EncryptionCodec(parseCodecKeys({ current: `a:${b64(keyA)}` }));
  const message = 'encrypted with codec key id "a" does not decrypt: it was changed, or the key given for "a"';

  test.each([
    ['a flipped ciphertext byte', (d: Buffer) => (d[20] ^= 1)],
    ['a flipped nonce byte', (d: Buffer) => (d[0] ^= 1)],
    ['a flipped tag byte', (d: Buffer) => (d[d.length - 1] ^= 1)],
  ])('%s', async (_name, change) => {
    const [p] = await codec.encode([plain({ prompt: PROMPT })]);
    const data = Buffer.from(p!.data!);
    change(data);
    const err = await codec.decode([{ ...p, data }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadDecryptionError);
    expect((err as Error).message).toContain(message);
  });

  test('a truncated payload', async () => {
    const [p] = await codec.encode([plain(PROMPT)]);
    await expect(codec.decode([{ ...p, data: Buffer.from(p!.data!).subarray(0, 20) }])).rejects.toThrow(message);
  });

  test('a key id changed in the metadata (the id is authenticated with the data)', async () => {
    const both = new EncryptionCodec(parseCodecKeys({ current: `a:${b64(keyA)}`, old: [`b:${b64(keyA)}`] }));
    const [p] = await both.encode([plain(PROMPT)]);
    const moved = { ...p, metadata: { ...p!.metadata, [KEY_ID_METADATA]: Buffer.from('b') } };
    await expect(both.decode([moved])).rejects.toThrow('encrypted with codec key id "b" does not decrypt');
  });

  test('the right id with the wrong key behind it', async () => {
    const [p] = await codec.encode([plain(PROMPT)]);
    const impostor = new EncryptionCodec(parseCodecKeys({ current: `a:${b64(keyB)}` }));
    await expect(impostor.decode([p!])).rejects.toThrow(PayloadDecryptionError);
  });

  test('an encrypted payload without a key id', async () => {
    const [p] = await codec.encode([plain(PROMPT)]);
    await expect(codec.decode([{ ...p, metadata: { [METADATA_ENCODING_KEY]: p!.metadata![METADATA_ENCODING_KEY]! } }])).rejects.toThrow(
      'an encrypted payload has no encryption-key-id in its metadata',
    );
  });
});
