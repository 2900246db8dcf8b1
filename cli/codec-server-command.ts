import { Command } from 'commander';
import { EncryptionCodec } from '../codec/encryption-codec';
import { DEFAULT_CORS_ORIGINS, startCodecServer } from '../codec/server';
import { ConfigError, loadConfig } from '../config/config';
import { printJson, printLines, progress } from './output';
import { parsePort } from './stack-command';

/** Test and Docker setups listen everywhere on purpose; anything else reachable from outside should need a header. */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export function codecServerCommand(): Command {
  return new Command('codec-server')
    .description("serve Temporal's /encode and /decode with the codec keys, so the Web UI shows encrypted payloads decrypted")
    .option('--port <port>', 'port to listen on (0 picks a free one)', (v) => (v === '0' ? 0 : parsePort(v)), 8888)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option(
      '--cors-origin <url...>',
      `browser origins allowed to call it: the Web UI's address (default ${DEFAULT_CORS_ORIGINS.join(' and ')}; * for any)`,
    )
    .option('--json', 'print one JSON object with the URL and key ids once listening')
    .action(async (flags: { port: number; host: string; corsOrigin?: string[]; json?: boolean }) => {
      const config = loadConfig();
      const keys = config.temporal.codec;
      if (!keys)
        throw new ConfigError('codec-server needs the codec keys: set MJ_BATCH_CODEC_KEY (and MJ_BATCH_CODEC_OLD_KEYS for older ones)');
      const auth = config.values.MJ_BATCH_CODEC_AUTH;
      const corsOrigins = flags.corsOrigin?.length ? flags.corsOrigin : DEFAULT_CORS_ORIGINS;
      const server = await startCodecServer({
        codec: new EncryptionCodec(keys),
        host: flags.host,
        port: flags.port,
        corsOrigins,
        auth,
        log: progress,
      });
      if (flags.json)
        printJson({ codecServerUrl: server.url, keyIds: keys.ids, currentKeyId: keys.currentId ?? null, corsOrigins, auth: Boolean(auth) });
      else
        printLines([
          `codec server on ${server.url} (POST /encode, /decode; also under any prefix, e.g. /{namespace}/decode)`,
          `  keys      ${keys.ids.map((id) => (id === keys.currentId ? `${id} (current)` : id)).join(', ')}`,
          `  CORS      ${corsOrigins.join(', ')}`,
          `  auth      ${auth ? 'Authorization must equal MJ_BATCH_CODEC_AUTH' : 'none (set MJ_BATCH_CODEC_AUTH to require a header)'}`,
          `  Web UI    Settings (gear) → Codec Server → ${server.url}; or start the dev server with --ui-codec-endpoint ${server.url}`,
          `  CLI       temporal workflow show --codec-endpoint ${server.url}${auth ? ' --codec-auth "$MJ_BATCH_CODEC_AUTH"' : ''} -w <id>`,
        ]);
      if (!auth && !LOOPBACK.has(flags.host))
        progress(
          `warning: ${flags.host} is reachable from other machines and MJ_BATCH_CODEC_AUTH is not set: anyone who can reach it can decrypt`,
        );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      progress('codec server stopping');
      await server.close();
    });
}
