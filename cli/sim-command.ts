import { Command, InvalidArgumentError, Option } from 'commander';
import { NO_FAULTS, type Faults, type GatewayBehaviour, type SimulatorOptions } from '../simulator/options';
import { wholeNumber } from '../client/options';
import { printJson, printLines, progress } from './output';
import { parsePort } from './stack-command';

function positive(value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError('must be a positive number');
  return n;
}

const atLeastZero = wholeNumber(0);

function share(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('must be a share from 0 to 1 (e.g. 0.05 for 5%)');
  return n;
}

type SimFlags = Pick<
  SimulatorOptions,
  'port' | 'host' | 'speed' | 'profile' | 'accounts' | 'concurrency' | 'queueSize' | 'seed' | 'apiKey'
> &
  Partial<Pick<SimulatorOptions, 'taskTimeoutMs' | 'publicUrl'>> & {
    imageTtlMs?: number;
    json?: boolean;
    fault5xx?: number;
    fault429?: number;
    fault429Burst?: number;
    faultQueueFull?: number;
    faultStall?: number;
    faultFailure?: number;
    faultResetAfterSubmit?: number;
    faultCorruptImage?: number;
    faultTruncatedImage?: number;
    faultOversizedImage?: number;
    slowImages?: number;
    bannedWords?: string;
    moderatedWords?: string;
    faultLostAnswer?: number;
    gatewayNotify?: boolean;
    gatewayServerAddress?: string;
    gatewayErrorStyle?: GatewayBehaviour['errorStyle'];
    gatewayQuota?: number;
    gatewayTokenConcurrency?: number;
    gatewayTokenStatus?: GatewayBehaviour['tokenStatus'];
  };

/** The gateway profile's settings from the flags; the ones not given keep stock new-api's defaults. */
export function gatewayFromFlags(f: SimFlags): Partial<GatewayBehaviour> {
  return {
    ...(f.gatewayNotify !== undefined ? { notifyForwarding: f.gatewayNotify } : {}),
    ...(f.gatewayServerAddress ? { serverAddress: f.gatewayServerAddress } : {}),
    ...(f.gatewayErrorStyle ? { errorStyle: f.gatewayErrorStyle } : {}),
    ...(f.gatewayQuota !== undefined ? { quota: f.gatewayQuota } : {}),
    ...(f.gatewayTokenConcurrency !== undefined ? { tokenConcurrency: f.gatewayTokenConcurrency } : {}),
    ...(f.gatewayTokenStatus ? { tokenStatus: f.gatewayTokenStatus } : {}),
  };
}

const wordList = (list: string | undefined) =>
  (list ?? '')
    .split(',')
    .map((w) => w.trim())
    .filter(Boolean);

export function faultsFromFlags(f: SimFlags): Faults {
  return {
    ...NO_FAULTS,
    http5xx: f.fault5xx ?? 0,
    rate429: f.fault429 ?? 0,
    burst429: f.fault429Burst ?? 0,
    queueFull: f.faultQueueFull ?? 0,
    stall: f.faultStall ?? 0,
    failure: f.faultFailure ?? 0,
    resetAfterSubmit: f.faultResetAfterSubmit ?? 0,
    corruptImage: f.faultCorruptImage ?? 0,
    truncatedImage: f.faultTruncatedImage ?? 0,
    oversizedImage: f.faultOversizedImage ?? 0,
    slowImageBytesPerSec: f.slowImages ?? 0,
    lostUpstreamAnswer: f.faultLostAnswer ?? 0,
    bannedWords: wordList(f.bannedWords),
    moderatedWords: wordList(f.moderatedWords),
  };
}

export function simCommand(): Command {
  return new Command('sim')
    .description('run the Midjourney-proxy API simulator (a real HTTP server) until interrupted')
    .option('--port <port>', 'port to listen on (0 picks a free one)', (v) => (v === '0' ? 0 : parsePort(v)), 7080)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--speed <factor>', 'divide every duration by this (50 runs a 45 s job in under a second)', positive, 1)
    .addOption(
      new Option('--profile <profile>', 'plus: a midjourney-proxy Plus server; gateway: a new-api gateway relaying one')
        .choices(['plus', 'gateway'])
        .default('plus'),
    )
    .option(
      '--accounts <n>',
      'Midjourney accounts behind the proxy, each with its own slots and queue',
      (v) => Math.max(1, atLeastZero(v)),
      1,
    )
    .option('--concurrency <n>', 'jobs one account runs at once', (v) => Math.max(1, atLeastZero(v)), 3)
    .option('--queue-size <n>', 'jobs one account keeps waiting before answering "queue full"', atLeastZero, 10)
    .option('--seed <seed>', 'seed for durations, faults and ids', 'mj-batch')
    .option('--api-key <key>', 'the key clients must send (Authorization: Bearer or mj-api-secret)', 'sk-sim')
    .option('--task-timeout-ms <ms>', 'fail tasks running longer than this (default 5 min / speed; 0 disables)', atLeastZero)
    .option('--image-ttl-ms <ms>', 'image URLs expire after this (default 24 h / speed)', atLeastZero)
    .option('--public-url <url>', 'base of the URLs handed out (default http://host:port)')
    .option('--fault-5xx <share>', 'share of API requests answered with a 5xx', share)
    .option('--fault-429 <share>', 'share of API requests answered with 429', share)
    .option('--fault-429-burst <n>', 'answer the next N API requests with 429', atLeastZero)
    .option('--fault-queue-full <share>', 'share of submits refused as queue full', share)
    .option('--fault-stall <share>', 'share of jobs that never finish (until the task timeout)', share)
    .option('--fault-failure <share>', 'share of jobs that end in FAILURE', share)
    .option('--fault-reset-after-submit <share>', 'share of accepted submits whose connection drops before the answer', share)
    .option('--fault-corrupt-image <share>', 'share of jobs whose image bytes are corrupt', share)
    .option('--fault-truncated-image <share>', 'share of jobs whose image download is cut short', share)
    .option('--fault-oversized-image <share>', 'share of jobs whose image is 12000×12000', share)
    .option('--slow-images <bytesPerSec>', 'throttle image downloads to this rate', atLeastZero)
    .option('--banned-words <list>', 'comma-separated words refused with code 24')
    .option(
      '--moderated-words <list>',
      "comma-separated words whose jobs are accepted, then fail as the proxy's banned-word check fails them (可能包含敏感词)",
    )
    .option(
      '--fault-lost-answer <share>',
      'gateway: share of accepted submits whose answer the gateway loses (the job exists and is paid)',
      share,
    )
    .option('--gateway-notify', 'gateway: forward notifyHook to the upstream (new-api MjNotifyEnabled; off by default, so no callbacks)')
    .option('--gateway-server-address <url>', "gateway: base of its image relay URLs (new-api ServerAddress; default this simulator's URL)")
    .addOption(
      new Option(
        '--gateway-error-style <style>',
        'gateway: old (do_request_failed) or new (accepted_state_unknown, codes mapped to HTTP statuses)',
      ).choices(['old', 'new']),
    )
    .option('--gateway-quota <n>', 'gateway: paid jobs the token can still pay for (default unlimited)', atLeastZero)
    .option('--gateway-token-concurrency <n>', 'gateway: requests one token may have in flight (0: no gate)', atLeastZero)
    .addOption(
      new Option('--gateway-token-status <status>', 'gateway: the token is enabled, or refused with 401 as expired or disabled').choices([
        'enabled',
        'expired',
        'disabled',
      ]),
    )
    .option('--json', 'print one JSON line with the URL and key once listening')
    .action(async (flags: SimFlags) => {
      const { startSimulator } = require('../simulator/server') as typeof import('../simulator/server'); // sharp, only when a simulator runs
      const sim = await startSimulator({
        port: flags.port,
        host: flags.host,
        speed: flags.speed,
        profile: flags.profile,
        accounts: flags.accounts,
        concurrency: flags.concurrency,
        queueSize: flags.queueSize,
        seed: flags.seed,
        apiKey: flags.apiKey,
        taskTimeoutMs: flags.taskTimeoutMs,
        imageUrlTtlMs: flags.imageTtlMs,
        publicUrl: flags.publicUrl,
        faults: faultsFromFlags(flags),
        gateway: gatewayFromFlags(flags),
      });
      if (flags.json)
        printJson({ simulatorUrl: sim.url, simulatorApiKey: sim.options.apiKey, profile: sim.options.profile, speed: sim.options.speed });
      else
        printLines([
          `Midjourney simulator (${sim.options.profile} profile, speed ×${sim.options.speed}, ${sim.options.accounts} account(s) × ${sim.options.concurrency} slots) on ${sim.url}`,
          `  API key   ${sim.options.apiKey}`,
          `  ledger    ${sim.url}/_sim/stats   ${sim.url}/_sim/jobs`,
          `  faults    ${sim.url}/_sim/faults  (GET, POST JSON to change, DELETE to clear)`,
          ...(sim.options.profile === 'gateway'
            ? [`  gateway   ${sim.url}/_sim/gateway (notify forwarding, server address, error style, quota, token gate; same verbs)`]
            : []),
        ]);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      progress('simulator stopping');
      await sim.close();
    });
}
