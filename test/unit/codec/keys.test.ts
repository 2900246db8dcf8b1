import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { ConfigError, ENV_ONLY_KEYS, FILE_KEYS, loadConfig, readConfigFile } from '../../../config/config';
import { settingOf } from '../../../config/settings';
import { derivedKeyId, parseCodecKeys } from '../../../codec/keys';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const b64 = (b: Buffer) => b.toString('base64');
const keyA = randomBytes(32);
const keyB = randomBytes(32);
const cwd = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-codec-keys-'));

test('unset: no keys, so no encryption', () => {
  expect(parseCodecKeys({})).toBeUndefined();
  expect(parseCodecKeys({ current: ' ', old: [] })).toBeUndefined();
  expect(loadConfig({}, cwd()).temporal.codec).toBeUndefined();
});

test('id:base64 keeps its id; a bare key gets an id from a hash of the key, the same in every process', () => {
  const keys = parseCodecKeys({ current: `2026-07:${b64(keyA)}`, old: [b64(keyB)] })!;
  expect(keys.currentId).toBe('2026-07');
  expect(keys.ids).toEqual(['2026-07', derivedKeyId(keyB)]);
  expect(derivedKeyId(keyB)).toMatch(/^key-[0-9a-f]{12}$/);
  expect(derivedKeyId(Buffer.from(keyB))).toBe(derivedKeyId(keyB));
  expect(derivedKeyId(keyA)).not.toBe(derivedKeyId(keyB));
  expect(keys.key('2026-07')!.equals(keyA)).toBe(true);
  // URL-safe base64 and missing padding, as some secret stores print them.
  expect(
    parseCodecKeys({ current: keyA.toString('base64url') })!
      .key(derivedKeyId(keyA))!
      .equals(keyA),
  ).toBe(true);
});

test('neither JSON nor inspect shows key material', () => {
  const keys = parseCodecKeys({ current: `a:${b64(keyA)}`, old: [`b:${b64(keyB)}`] })!;
  const shown = JSON.stringify({ keys }) + inspect(keys) + inspect({ nested: { keys } }, { depth: 5, showHidden: true });
  expect(shown).toContain('"currentId":"a"');
  for (const k of [keyA, keyB]) {
    expect(shown).not.toContain(b64(k));
    expect(shown).not.toContain(k.toString('hex'));
  }
});

test.each([
  ['MJ_BATCH_CODEC_KEY', 'not base64!', 'MJ_BATCH_CODEC_KEY: the key is not base64'],
  ['MJ_BATCH_CODEC_KEY', b64(randomBytes(16)), 'MJ_BATCH_CODEC_KEY: the key is 16 bytes, AES-256 needs 32'],
  ['MJ_BATCH_CODEC_KEY', `bad id:${b64(keyA)}`, 'MJ_BATCH_CODEC_KEY: the key id before ":" must be 1 to 64 letters'],
  ['MJ_BATCH_CODEC_OLD_KEYS', `x:${b64(keyA)},y:${b64(randomBytes(31))}`, 'MJ_BATCH_CODEC_OLD_KEYS (item 2): the key is 31 bytes'],
  ['MJ_BATCH_CODEC_OLD_KEYS', `a:${b64(keyB)}`, 'the key id "a" is given twice with different keys'],
])('%s=%s is a ConfigError naming the variable, never the key', (name, value, message) => {
  const env = { MJ_BATCH_CODEC_KEY: `a:${b64(keyA)}`, [name]: value };
  let err: unknown;
  try {
    loadConfig(env, cwd());
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).exitCode).toBe(2);
  expect((err as Error).message).toContain(message);
  for (const secret of [b64(keyA), b64(keyB), value.split(':').pop()!]) expect((err as Error).message).not.toContain(secret);
});

test('the same key under the same id twice is fine (the current key also listed as old)', () => {
  const keys = loadConfig({ MJ_BATCH_CODEC_KEY: `a:${b64(keyA)}`, MJ_BATCH_CODEC_OLD_KEYS: `a:${b64(keyA)},b:${b64(keyB)}` }, cwd())
    .temporal.codec!;
  expect(keys.ids).toEqual(['a', 'b']);
});

test('the codec settings are secrets read from the environment only: a config file holding one is refused', () => {
  for (const name of ['MJ_BATCH_CODEC_KEY', 'MJ_BATCH_CODEC_OLD_KEYS', 'MJ_BATCH_CODEC_AUTH']) {
    expect(settingOf(name)).toMatchObject({ secret: true, envOnly: true });
    expect(ENV_ONLY_KEYS).toContain(name);
    expect(FILE_KEYS).not.toContain(name);
  }
  const dir = cwd();
  fs.writeFileSync(path.join(dir, 'mj-batch.config.json'), JSON.stringify({ MJ_BATCH_CODEC_KEY: b64(keyA) }));
  expect(() => readConfigFile({}, dir)).toThrow('MJ_BATCH_CODEC_KEY can only be set in the environment');
});
