// AES-256-GCM over every payload, so Temporal's history (and anyone reading it in the Web UI or the database)
// holds ciphertext, not prompts. Codecs run outside the workflow sandbox: the workflow bundle does not change.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec, type SerializationContext } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { CodecKeys } from './keys';

/** The `encoding` of an encrypted payload (the name Temporal's samples and other SDKs use). */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Which key encrypted the payload, so old payloads still decrypt after the current key changes. */
export const KEY_ID_METADATA = 'encryption-key-id';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const CIPHER = 'aes-256-gcm';

const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);
const whose = (context?: SerializationContext) => (context?.workflowId ? ` (workflow ${context.workflowId})` : '');

/** An encrypted payload whose key this process does not have: the message says which id, and which variable to set. */
export class MissingCodecKeyError extends Error {
  override readonly name = 'MissingCodecKeyError';

  constructor(
    readonly keyId: string,
    heldIds: string[],
    context?: SerializationContext,
  ) {
    super(
      heldIds.length
        ? `a payload${whose(context)} is encrypted with codec key id "${keyId}", which this process does not have (it has ${heldIds.map((id) => `"${id}"`).join(', ')}): add that key to MJ_BATCH_CODEC_OLD_KEYS (as ${keyId}:<base64>), or make it MJ_BATCH_CODEC_KEY`
        : `a payload${whose(context)} is encrypted with codec key id "${keyId}", but no codec key is set: set MJ_BATCH_CODEC_KEY (or MJ_BATCH_CODEC_OLD_KEYS) to the key with id "${keyId}"`,
    );
  }
}

/** An encrypted payload that does not decrypt: it was changed, or a different key was given under its id. */
export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';
}

export interface EncryptionCodecOptions {
  /**
   * Called once per key id the first time a payload needs a key this process lacks: the worker logs it at error
   * level, since the SDK fails and retries the workflow task forever and its own log lines repeat at every attempt.
   */
  onMissingKey?: (keyId: string, error: MissingCodecKeyError) => void;
}

/**
 * Encrypts each payload whole (its metadata too: what it holds and how it is encoded) under the current key, with
 * a random 12-byte nonce and the key id as additional data, so a changed id fails like changed bytes. Decrypts
 * payloads with any key it holds; plain payloads (written before the codec was on) pass through. Without keys it
 * encodes nothing, and an encrypted payload it meets is a MissingCodecKeyError rather than the SDK's "unknown
 * encoding".
 */
export class EncryptionCodec implements PayloadCodec {
  readonly #reported = new Set<string>();

  constructor(
    private readonly keys: CodecKeys | undefined,
    private readonly options: EncryptionCodecOptions = {},
  ) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const id = this.keys?.currentId;
    if (!id) return payloads;
    const key = this.keys!.key(id)!;
    return payloads.map((payload) => {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv(CIPHER, key, nonce);
      cipher.setAAD(Buffer.from(id, 'utf8'));
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const sealed = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: Buffer.from(id) },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    return payloads.map((payload) => this.decodeOne(payload, context));
  }

  private decodeOne(payload: Payload, context?: SerializationContext): Payload {
    if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
    const id = text(payload.metadata?.[KEY_ID_METADATA]);
    if (!id) throw new PayloadDecryptionError(`an encrypted payload${whose(context)} has no ${KEY_ID_METADATA} in its metadata`);
    const key = this.keys?.key(id);
    if (!key) {
      const error = new MissingCodecKeyError(id, this.keys?.ids ?? [], context);
      if (!this.#reported.has(id)) {
        this.#reported.add(id);
        this.options.onMissingKey?.(id, error);
      }
      throw error;
    }
    const data = Buffer.from(payload.data ?? []);
    try {
      if (data.length < NONCE_BYTES + TAG_BYTES) throw new Error('too short');
      const decipher = createDecipheriv(CIPHER, key, data.subarray(0, NONCE_BYTES));
      decipher.setAAD(Buffer.from(id, 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      return temporal.api.common.v1.Payload.decode(plain);
    } catch {
      throw new PayloadDecryptionError(
        `a payload${whose(context)} encrypted with codec key id "${id}" does not decrypt: it was changed, or the key given for "${id}" in MJ_BATCH_CODEC_KEY / MJ_BATCH_CODEC_OLD_KEYS is not the one that encrypted it`,
      );
    }
  }
}
