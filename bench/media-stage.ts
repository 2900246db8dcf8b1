/**
 * Media stage: the same N PNG grids (2048×2048, from an in-process simulator) through the media activity's body
 * (`storeImage`: download → inspect → thumbnails → S3 uploads with sha256 and a sidecar, with the deps the worker
 * builds) against a bare sharp loop making the same thumbnails from memory (`makeThumbnails`), at the same
 * concurrency, in one process. ratio = bare time / activity time (goal: at least 0.80).
 *
 * Needs the local stack's S3 (`node bin/mj-batch.js stack up`), or whatever S3 the configuration names:
 *   node dist/bench/media-stage.js [--images 50] [--concurrency 2] [--rounds 1] [--s3-pid PID] [--profile] [--keep] [--json]
 * `--profile` adds a pass per step (download, inspect, thumbnails, sha256, uploads) at the same concurrency.
 * The objects are stored under a fresh prefix per run and deleted at the end unless `--keep`.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { loadConfig, type EffectiveConfig } from '../config/config';
import { downloadImage } from '../media/download';
import { putIfChanged, sha256 } from '../media/store';
import { storeImage } from '../media/store-image';
import type { StoredImage } from '../contracts/media';
import { DEFAULT_THUMBNAILS, inspectImage, makeThumbnails } from '../media/thumbnails';
import type { ThumbnailSpec } from '../contracts/media';
import { isTerminal, MjClient } from '../mj-client';
import { mapLimit } from '../report/map-limit';
import { startSimulator } from '../simulator/server';
import { readStackState } from '../stack/state';
import { listKeys } from '../storage/objects';
import { createMediaDeps } from '../worker/run-worker';
import { cpuMsOf } from './worker-process';

export interface MediaStageOptions {
  images: number;
  concurrency: number;
  log?: (line: string) => void;
  /** Thumbnail profile for both sides (default: the activity's default, 512:webp,256:webp). */
  thumbnails?: ThumbnailSpec[];
  /** Images each side processes, untimed, before its timed pass (default: max(2, concurrency)). */
  warmup?: number;
  /** Also time each step on its own (download, inspect, thumbnails, sha256, uploads) at the same concurrency. */
  profile?: boolean;
  /** Keep the stored objects (default: deleted after the run). */
  keepObjects?: boolean;
  /**
   * Timed passes of each side (default 1), alternating which goes first; the reported times are each side's median
   * pass. More rounds smooth out a machine that other work shares.
   */
  rounds?: number;
  /** Pid of a local S3 server other than the stack's, whose CPU time to report (the stack's is found by itself). */
  s3ServerPid?: number;
}

/** Mean milliseconds per image spent in each part of the activity (per image, not wall time: images overlap). */
export interface StageSplit {
  /** Download and inspect (until the activity reports `thumbnails`). */
  downloadInspectMs: number;
  thumbnailsMs: number;
  /** Original, thumbnails and sidecar to S3, sha256 included (from the first `upload` report to the end). */
  uploadMs: number;
}

/** Each step alone over all images at the same concurrency: wall milliseconds for the whole pass. */
export interface StepProfile {
  downloadMs: number;
  inspectMs: number;
  thumbnailsMs: number;
  sha256Ms: number;
  /** putIfChanged (HEAD + PUT) of the originals with their thumbnails, then a sidecar-sized JSON, to a fresh prefix. */
  uploadMs: number;
  uploadOriginalsMs: number;
  /** CPU milliseconds per image of each step (this process; `s3Server`: the S3 server during the uploads pass). */
  cpuMsPerImage: { download: number; inspect: number; thumbnails: number; sha256: number; upload: number; s3Server?: number };
}

export interface MediaStageResult {
  images: number;
  concurrency: number;
  bytesPerImageMean: number;
  pipelineMs: number;
  bareMs: number;
  /** bare sharp time / media activity time: 1 means the activity adds nothing over making the thumbnails. */
  ratio: number;
  pipelineMsPerImage: number;
  bareMsPerImage: number;
  goal: number;
  meetsGoal: boolean;
  width: number;
  height: number;
  thumbnails: string;
  /** Activity time per image by part (in flight, so the parts add up to about concurrency × pipelineMsPerImage). */
  split: StageSplit;
  profile?: StepProfile;
  /**
   * CPU milliseconds per image (user + system, every thread) of this process during each timed pass, and of the
   * local stack's S3 server during the activity pass (undefined when the S3 server is not a local process).
   */
  cpuMsPerImage: { bare: number; pipeline: number; s3Server?: number };
  /**
   * bare CPU / (activity CPU + S3 server CPU): the ratio the CPU budget allows when the cores are the bottleneck
   * (as with 2 cores shared by sharp, the S3 server and the simulator). Unlike `ratio`, hardly moved by other work
   * on the machine. Without the S3 server's figure (not a local process we know), its CPU is left out.
   */
  cpuRatio: number;
  /** Every timed round (the top-level times are the median of each side). */
  rounds: { bareMs: number; pipelineMs: number; ratio: number }[];
  /** 1-minute load average before and after the timed passes: well above `cpus` means other work shared the machine. */
  loadAverage: { before: number; after: number };
  sharp: { concurrency: number; simd: boolean; libvips: string; version: string; uvThreadpoolSize: number };
  cpus: number;
  node: string;
  s3Endpoint: string;
  prefix: string;
  warmup: number;
  objectsStored: number;
  objectsDeleted: number;
}

const GOAL = 0.8;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
/** Index of the median (the lower one for an even count). */
const medianIndex = (xs: number[]) => xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0])[Math.floor((xs.length - 1) / 2)]![1];
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/** CPU time (user + system) of another process on this machine; undefined where that cannot be read. */
const processCpuMs = (pid: number | undefined) => (pid ? (cpuMsOf(pid) ?? undefined) : undefined);

interface Timed<T> {
  value: T;
  ms: number;
  cpuMs: number;
  s3CpuMs?: number;
}

async function timed<T>(fn: () => Promise<T>, s3Pid?: number): Promise<Timed<T>> {
  const s3Before = processCpuMs(s3Pid);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const s3After = processCpuMs(s3Pid);
  return {
    value,
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    s3CpuMs: s3Before !== undefined && s3After !== undefined ? s3After - s3Before : undefined,
  };
}

export async function benchMediaStage(config: EffectiveConfig, opts: MediaStageOptions): Promise<MediaStageResult> {
  const log = opts.log ?? (() => undefined);
  const images = opts.images;
  const concurrency = opts.concurrency;
  if (!Number.isInteger(images) || images < 1) throw new Error(`images must be a whole number >= 1, got ${images}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency must be a whole number >= 1, got ${concurrency}`);
  const warmup = opts.warmup ?? Math.max(2, concurrency);
  const rounds = opts.rounds ?? 1;
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`rounds must be a whole number >= 1, got ${rounds}`);
  const specs = opts.thumbnails ?? DEFAULT_THUMBNAILS;
  const runId = `${new Date().toISOString().replace(/[-:.]/g, '').replace('T', '-').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
  const prefix = `_bench/media-stage/${runId}`;
  const total = images + warmup;

  // The local stack's S3 server shares the machine's cores; its CPU time is part of what the activity costs.
  const stack = readStackState(config.stackDir);
  const s3Pid =
    opts.s3ServerPid ?? (stack && !stack.s3.external && stack.s3.endpoint === config.s3.endpoint ? stack.s3.process?.pid : undefined);
  // Fast jobs and a roomy account, so the grids exist within a second; URLs valid for an hour whatever the speed.
  const sim = await startSimulator({
    speed: 2000,
    accounts: 1,
    concurrency: total,
    queueSize: total,
    imageUrlTtlMs: 3_600_000,
    seed: `media-stage-${runId}`,
  });
  let mj: MjClient | undefined;
  let deps: ReturnType<typeof createMediaDeps> | undefined;
  let objectsStored = 0;
  let objectsDeleted = 0;
  let result: MediaStageResult;
  try {
    mj = new MjClient({ baseUrl: sim.url, apiKey: sim.options.apiKey, mode: 'fast' });
    // The worker's deps, as a worker configured against this simulator builds them (its download policy follows MJ_BASE_URL).
    deps = createMediaDeps({ ...config, mj: { ...config.mj, baseUrl: sim.url, apiKey: sim.options.apiKey } });
    const client = mj;
    const media = deps;
    log(`simulator on ${sim.url}; making ${total} grids (${warmup} for warm-up)`);
    const urls = await mapLimit(
      Array.from({ length: total }, (_, i) => i),
      16,
      async (i) => {
        const { taskId } = await client.submitImagine({ prompt: `media stage bench ${runId} image ${i} --ar 1:1` });
        for (;;) {
          const task = await client.fetchTask(taskId);
          if (isTerminal(task)) {
            if (task.status !== 'SUCCESS' || !task.imageUrl)
              throw new Error(`grid ${i} ended ${task.status}: ${task.failReason ?? 'no image'}`);
            return task.imageUrl;
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      },
    );
    // Into memory for the bare loop; this also renders each grid once, so the timed downloads are transfers only.
    const buffers = await mapLimit(urls, concurrency, async (url) => (await downloadImage(url, media.policy, media.dispatcher)).bytes);
    const first = await inspectImage(buffers[0]!);
    const timedUrls = urls.slice(warmup);
    const timedBuffers = buffers.slice(warmup);
    const bytesPerImageMean = sum(timedBuffers.map((b) => b.length)) / images;
    log(
      `${images} grids of ${first.width}×${first.height} ${first.format}, ${round(bytesPerImageMean / 1e6, 2)} MB each on average; sharp concurrency ${sharp.concurrency()}`,
    );

    const input = (url: string, folder: string, i: number) => ({
      batchId: `bench-${runId}`,
      rowKey: `img-${i}`,
      prefix: `${prefix}/${folder}/img-${String(i).padStart(3, '0')}`,
      role: 'grid',
      taskId: new URL(url).pathname.split('/')[3] ?? String(i),
      imageUrl: url,
      prompt: `media stage bench image ${i}`,
      parentChain: [],
      thumbnails: specs,
    });
    const remember = (s: StoredImage) => {
      if (s.skipped) throw new Error(`${s.key} was skipped as already stored: the prefix is not fresh`);
    };

    // Warm-up: sharp/libvips start-up, the S3 and download connection pools, the JIT.
    await mapLimit(buffers.slice(0, warmup), concurrency, (b) => makeThumbnails(b, specs));
    await mapLimit(
      urls.slice(0, warmup).map((u, i) => input(u, 'warmup', i)),
      concurrency,
      async (inp) => remember(await storeImage(media, inp)),
    );

    const bareLoop = () => timed(() => mapLimit(timedBuffers, concurrency, (b) => makeThumbnails(b, specs)));
    const parts: StageSplit[] = [];
    const activityLoop = (folder: string) =>
      timed(
        () =>
          mapLimit(
            timedUrls.map((u, i) => input(u, folder, i)),
            concurrency,
            async (inp) => {
              const t0 = performance.now();
              let tThumbs = 0;
              let tUpload = 0;
              const stored = await storeImage(media, inp, (stage) => {
                if (stage === 'thumbnails' && !tThumbs) tThumbs = performance.now();
                if (stage === 'upload' && !tUpload) tUpload = performance.now();
              });
              const t3 = performance.now();
              parts.push({ downloadInspectMs: tThumbs - t0, thumbnailsMs: tUpload - tThumbs, uploadMs: t3 - tUpload });
              remember(stored);
              return stored;
            },
          ),
        s3Pid,
      );

    // Rounds alternate which side goes first, so neither always runs on a warmer (or busier) machine.
    const bares: Timed<unknown>[] = [];
    const pipelines: Timed<StoredImage[]>[] = [];
    const loadBefore = loadavg()[0]!;
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ['bare', 'activity'] : ['activity', 'bare'];
      for (const side of order) {
        if (side === 'bare') {
          log(`round ${r + 1}/${rounds}: bare makeThumbnails over ${images} buffers, ${concurrency} at a time`);
          bares.push(await bareLoop());
        } else {
          log(`round ${r + 1}/${rounds}: media activity (storeImage) over ${images} URLs, ${concurrency} at a time`);
          pipelines.push(await activityLoop(`timed-${r + 1}`));
        }
      }
    }
    const loadAfter = loadavg()[0]!;
    const pipeline = pipelines[medianIndex(pipelines.map((p) => p.ms))]!;
    const bare = bares[medianIndex(bares.map((b) => b.ms))]!;
    if (pipeline.value.some((s) => s.thumbnails.length !== specs.length)) throw new Error('an image came back without all its thumbnails');

    let profile: StepProfile | undefined;
    if (opts.profile) {
      log('profile: each step alone at the same concurrency');
      const download = await timed(() => mapLimit(timedUrls, concurrency, (u) => downloadImage(u, media.policy, media.dispatcher)));
      const inspect = await timed(() => mapLimit(timedBuffers, concurrency, (b) => inspectImage(b)));
      const thumbs = await timed(() => mapLimit(timedBuffers, concurrency, (b) => makeThumbnails(b, specs)));
      const hash = await timed(() => mapLimit(timedBuffers, concurrency, async (b) => sha256(b)));
      const put = async (key: string, body: Buffer, type: string) => {
        const r = await putIfChanged(media.s3, media.bucket, key, body, type);
        if (r.skipped) throw new Error(`${key} was skipped`);
      };
      const originals = await timed(
        () =>
          mapLimit(
            timedBuffers.map((b, i) => ({ b, i })),
            concurrency,
            ({ b, i }) => put(`${prefix}/profile-originals/img-${i}.png`, b, 'image/png'),
          ),
        s3Pid,
      );
      const sidecar = Buffer.from(JSON.stringify(pipeline.value[0], null, 2));
      const uploads = await timed(
        () =>
          mapLimit(
            timedBuffers.map((b, i) => ({ b, i, t: thumbs.value[i]! })),
            concurrency,
            async ({ b, i, t }) => {
              const base = `${prefix}/profile-all/img-${i}`;
              // As the activity does: the original and its thumbnails together, then the sidecar.
              await Promise.all([
                put(`${base}.png`, b, 'image/png'),
                ...t.map((th) => put(`${base}-${th.spec.size}.${th.spec.format}`, th.bytes, `image/${th.spec.format}`)),
              ]);
              await put(`${base}.json`, sidecar, 'application/json');
            },
          ),
        s3Pid,
      );
      profile = {
        downloadMs: round(download.ms),
        inspectMs: round(inspect.ms),
        thumbnailsMs: round(thumbs.ms),
        sha256Ms: round(hash.ms),
        uploadMs: round(uploads.ms),
        uploadOriginalsMs: round(originals.ms),
        cpuMsPerImage: {
          download: round(download.cpuMs / images),
          inspect: round(inspect.cpuMs / images),
          thumbnails: round(thumbs.cpuMs / images),
          sha256: round(hash.cpuMs / images),
          upload: round(uploads.cpuMs / images),
          s3Server: uploads.s3CpuMs === undefined ? undefined : round(uploads.s3CpuMs / images),
        },
      };
    }

    const ratio = bare.ms / pipeline.ms;
    const cpuPerImage = (xs: Timed<unknown>[], f: (t: Timed<unknown>) => number | undefined) => {
      const vals = xs.map(f);
      return vals.some((v) => v === undefined) ? undefined : round(sum(vals as number[]) / (xs.length * images));
    };
    const mean = (f: (p: StageSplit) => number) => round(sum(parts.map(f)) / parts.length);
    const cpu = {
      bare: cpuPerImage(bares, (t) => t.cpuMs)!,
      pipeline: cpuPerImage(pipelines, (t) => t.cpuMs)!,
      s3Server: cpuPerImage(pipelines, (t) => t.s3CpuMs),
    };
    result = {
      images,
      concurrency,
      bytesPerImageMean: Math.round(bytesPerImageMean),
      pipelineMs: round(pipeline.ms),
      bareMs: round(bare.ms),
      ratio: round(ratio, 3),
      pipelineMsPerImage: round(pipeline.ms / images),
      bareMsPerImage: round(bare.ms / images),
      goal: GOAL,
      meetsGoal: ratio >= GOAL,
      width: first.width,
      height: first.height,
      thumbnails: specs.map((s) => `${s.size}:${s.format}`).join(','),
      split: {
        downloadInspectMs: mean((p) => p.downloadInspectMs),
        thumbnailsMs: mean((p) => p.thumbnailsMs),
        uploadMs: mean((p) => p.uploadMs),
      },
      profile,
      cpuMsPerImage: cpu,
      cpuRatio: round(cpu.bare / (cpu.pipeline + (cpu.s3Server ?? 0)), 3),
      rounds: bares.map((b, i) => ({ bareMs: round(b.ms), pipelineMs: round(pipelines[i]!.ms), ratio: round(b.ms / pipelines[i]!.ms, 3) })),
      loadAverage: { before: round(loadBefore, 2), after: round(loadAfter, 2) },
      sharp: {
        concurrency: sharp.concurrency(),
        simd: sharp.simd(),
        libvips: sharp.versions.vips,
        version: sharp.versions.sharp ?? 'unknown',
        uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE) || 4,
      },
      cpus: cpus().length,
      node: process.version,
      s3Endpoint: config.s3.endpoint ?? 'AWS',
      prefix,
      warmup,
      objectsStored: 0,
      objectsDeleted: 0,
    };
  } finally {
    // Everything under the run's prefix, listed rather than remembered, so a run that failed half-way is cleaned too.
    if (deps && !opts.keepObjects) {
      const keys = await listKeys(deps.s3, deps.bucket, `${prefix}/`).catch(() => [] as string[]);
      objectsStored = keys.length;
      const deleted = await mapLimit(keys, 16, (key) =>
        deps!.s3.send(new DeleteObjectCommand({ Bucket: deps!.bucket, Key: key })).then(
          () => true,
          () => false,
        ),
      );
      objectsDeleted = deleted.filter(Boolean).length;
      if (keys.length) log(`deleted ${objectsDeleted} of ${keys.length} objects under s3://${deps.bucket}/${prefix}/`);
    } else if (deps) objectsStored = (await listKeys(deps.s3, deps.bucket, `${prefix}/`).catch(() => [] as string[])).length;
    await mj?.close();
    await deps?.close();
    await sim.close();
  }
  result.objectsStored = objectsStored;
  result.objectsDeleted = objectsDeleted;
  return result;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

function table(r: MediaStageResult): string {
  const rows: [string, string][] = [
    ['images', `${r.images} × ${r.width}×${r.height} PNG, ${round(r.bytesPerImageMean / 1e6, 2)} MB mean`],
    ['concurrency', `${r.concurrency} (sharp threads ${r.sharp.concurrency}, ${r.cpus} cores)`],
    ['thumbnails', r.thumbnails],
    ['media activity', `${r.pipelineMs} ms (${r.pipelineMsPerImage} ms/image)`],
    ['bare sharp', `${r.bareMs} ms (${r.bareMsPerImage} ms/image)`],
    ['ratio', `${r.ratio} (goal ${r.goal}: ${r.meetsGoal ? 'met' : 'NOT met'})`],
    [
      'split per image',
      `download+inspect ${r.split.downloadInspectMs} ms, thumbnails ${r.split.thumbnailsMs} ms, uploads ${r.split.uploadMs} ms`,
    ],
  ];
  if (r.rounds.length > 1) rows.push(['rounds', r.rounds.map((x) => `${x.bareMs}/${x.pipelineMs} ms = ${x.ratio}`).join('; ')]);
  rows.push(['load average', `${r.loadAverage.before} before, ${r.loadAverage.after} after (${r.cpus} cores)`]);
  const c = r.cpuMsPerImage;
  rows.push([
    'CPU per image',
    `bare ${c.bare} ms; activity ${c.pipeline} ms${c.s3Server === undefined ? '' : ` + S3 server ${c.s3Server} ms`} (CPU ratio ${r.cpuRatio})`,
  ]);
  if (r.profile) {
    const p = r.profile;
    rows.push([
      'steps alone',
      `download ${p.downloadMs}, inspect ${p.inspectMs}, thumbnails ${p.thumbnailsMs}, sha256 ${p.sha256Ms}, uploads ${p.uploadMs} (originals ${p.uploadOriginalsMs}) ms`,
    ]);
    const pc = p.cpuMsPerImage;
    rows.push([
      'step CPU/image',
      `download ${pc.download}, inspect ${pc.inspect}, thumbnails ${pc.thumbnails}, sha256 ${pc.sha256}, uploads ${pc.upload}${pc.s3Server === undefined ? '' : ` + S3 server ${pc.s3Server}`} ms`,
    ]);
  }
  rows.push(['objects', `${r.objectsStored} stored under ${r.prefix}, ${r.objectsDeleted} deleted`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return `${rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n')}\n`;
}

async function main(): Promise<void> {
  // The SDK's notice about future Node versions is not this benchmark's business (the tests silence it too).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const json = process.argv.includes('--json');
  const images = Number(arg('images') ?? 50);
  const concurrency = Number(arg('concurrency') ?? 2);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const result = await benchMediaStage(loadConfig(), {
    images,
    concurrency,
    rounds: Number(arg('rounds') ?? 1),
    s3ServerPid: arg('s3-pid') ? Number(arg('s3-pid')) : undefined,
    profile: process.argv.includes('--profile'),
    keepObjects: process.argv.includes('--keep'),
    log: json ? undefined : log,
  });
  process.stdout.write(json ? `${JSON.stringify(result)}\n` : table(result));
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
