import * as fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec, type EncryptionCodecOptions } from '../codec/encryption-codec';
import { ConfigError, type TemporalSettings } from './config';

function readPem(variable: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`${variable}: cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

/**
 * The options shared by the client and the worker connection: an API key (Temporal Cloud), mTLS (Temporal Cloud or
 * self-hosted) with an optional private CA and server name, or a plain connection. `tls: false` stays plain even
 * with an API key, which the SDK would otherwise take as TLS on.
 */
export function connectionOptions(settings: TemporalSettings) {
  const { tlsCert, tlsKey, tlsCa, tlsServerName } = settings;
  return {
    address: settings.address,
    tls: settings.tls && {
      serverNameOverride: tlsServerName,
      serverRootCACertificate: tlsCa ? readPem('TEMPORAL_TLS_CA', tlsCa) : undefined,
      clientCertPair:
        tlsCert && tlsKey ? { crt: readPem('TEMPORAL_TLS_CERT', tlsCert), key: readPem('TEMPORAL_TLS_KEY', tlsKey) } : undefined,
    },
    apiKey: settings.apiKey,
  };
}

/**
 * The data converter of every client and worker, so they agree: AES-256-GCM over every payload when codec keys are
 * set (codec/). Without keys payloads stay plain JSON as before; the codec then only turns an encrypted payload it
 * meets into an error naming the key id and the variable to set, instead of the SDK's "unknown encoding".
 */
export function dataConverterOf(settings: TemporalSettings, options?: EncryptionCodecOptions): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(settings.codec, options)] };
}

/** A client for starting, querying and listing workflows. Close it with `client.connection.close()`. */
export async function connectClient(settings: TemporalSettings): Promise<Client> {
  const connection = await Connection.connect({ ...connectionOptions(settings), connectTimeout: '10s' });
  return new Client({ connection, namespace: settings.namespace, dataConverter: dataConverterOf(settings) });
}
