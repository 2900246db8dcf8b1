// The payload codec's keys, from MJ_BATCH_CODEC_KEY (the current key: it encrypts, and decrypts) and
// MJ_BATCH_CODEC_OLD_KEYS (decrypt only, for rotation). Each is `id:base64` or a bare base64 whose id is derived
// from a hash of the key. config/config.ts reads the variables; nothing here ever puts key material in a message.
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';

/** AES-256: 32 bytes of key. */
export const CODEC_KEY_BYTES = 32;

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
// Standard or URL-safe base64, padded or not: what `openssl rand -base64 32` and most secret stores print.
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** A key that cannot be used; config/config.ts turns it into a ConfigError. The message names the variable, never the key. */
export class CodecKeyError extends Error {
  override readonly name = 'CodecKeyError';
}

/**
 * The id of a key given without one: a hash of the key, so every process given the same key agrees on it, and the
 * id (stored in each payload's metadata) tells nothing about the key.
 */
export function derivedKeyId(key: Buffer): string {
  return `key-${createHash('sha256').update('mj-batch payload codec key id\0').update(key).digest('hex').slice(0, 12)}`;
}

/** The keys one process holds. Neither `JSON.stringify` nor `util.inspect` shows the key material, only the ids. */
export class CodecKeys {
  readonly #keys: ReadonlyMap<string, Buffer>;

  constructor(
    keys: ReadonlyMap<string, Buffer>,
    /** The key that encrypts; unset when only old keys are given (payloads are then written in plain, and old ones still read). */
    readonly currentId: string | undefined,
  ) {
    this.#keys = keys;
  }

  /** Every key id, the current one first. */
  get ids(): string[] {
    const ids = [...this.#keys.keys()];
    return this.currentId ? [this.currentId, ...ids.filter((id) => id !== this.currentId)] : ids;
  }

  key(id: string): Buffer | undefined {
    return this.#keys.get(id);
  }

  toJSON() {
    return { currentId: this.currentId ?? null, ids: this.ids };
  }

  [inspect.custom]() {
    return `CodecKeys { current: ${this.currentId ?? 'none'}, ids: ${this.ids.join(', ')} }`;
  }
}

/** One `id:base64` or bare-base64 item of `variable`; `where` says which item of a list, for the message. */
function parseKey(variable: string, item: string, where = ''): { id: string; key: Buffer } {
  const at = item.indexOf(':');
  const id = at >= 0 ? item.slice(0, at) : undefined;
  const material = (at >= 0 ? item.slice(at + 1) : item).trim();
  if (id !== undefined && !KEY_ID.test(id))
    throw new CodecKeyError(`${variable}${where}: the key id before ":" must be 1 to 64 letters, digits, ".", "_" or "-"`);
  const key = BASE64.test(material) ? Buffer.from(material, 'base64') : undefined;
  if (!key) throw new CodecKeyError(`${variable}${where}: the key is not base64 (make one with: openssl rand -base64 32)`);
  if (key.length !== CODEC_KEY_BYTES)
    throw new CodecKeyError(
      `${variable}${where}: the key is ${key.length} bytes, AES-256 needs ${CODEC_KEY_BYTES} (make one with: openssl rand -base64 32)`,
    );
  return { id: id ?? derivedKeyId(key), key };
}

/**
 * The keys from the two variables' values, or undefined when neither is set (no encryption, as before). The same
 * id twice with different keys is refused: a payload would decrypt with one and fail with the other.
 */
export function parseCodecKeys(values: { current?: string; old?: readonly string[] }): CodecKeys | undefined {
  const current = values.current?.trim() ? parseKey('MJ_BATCH_CODEC_KEY', values.current.trim()) : undefined;
  const old = (values.old ?? [])
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item, i, all) => parseKey('MJ_BATCH_CODEC_OLD_KEYS', item, all.length > 1 ? ` (item ${i + 1})` : ''));
  if (!current && old.length === 0) return undefined;
  const keys = new Map<string, Buffer>();
  for (const { id, key } of current ? [current, ...old] : old) {
    const known = keys.get(id);
    if (known && !known.equals(key))
      throw new CodecKeyError(`MJ_BATCH_CODEC_KEY / MJ_BATCH_CODEC_OLD_KEYS: the key id "${id}" is given twice with different keys`);
    keys.set(id, key);
  }
  return new CodecKeys(keys, current?.id);
}
