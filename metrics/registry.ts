// mj-batch's own metrics (the `mj_batch_` prefix), in a registry of their own: what the recorder counts, and the
// account slots, read when Prometheus scrapes. docs/metrics.md lists them with their labels.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MetricsRecorder } from './record';

/** One account's slots as its slots workflow, or the pool, says now. */
export interface AccountSlotsReading {
  account: string;
  inUse: number;
  effectiveSlots: number;
}

export interface MetricsRegistryOptions {
  /** Reads every account's slots; asked on each scrape. */
  readSlots?: () => Promise<AccountSlotsReading[]>;
  /** A reading that takes longer is dropped (the gauges are then absent from that scrape): default 2 s. */
  slotsTimeoutMs?: number;
}

export interface MetricsRegistry {
  recorder: MetricsRecorder;
  contentType: string;
  /** The registry's text, with the slots read just now. */
  text(): Promise<string>;
}

/** Media work takes from a fraction of a second (a small thumbnail) to minutes (a large upscale on a slow CDN). */
const MEDIA_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];

export function createMetricsRegistry(opts: MetricsRegistryOptions = {}): MetricsRegistry {
  const registers = [new Registry()];
  const jobs = new Counter({
    name: 'mj_batch_jobs_submitted_total',
    help: 'Paid jobs the API accepted (jobs adopted from an earlier attempt are not counted)',
    labelNames: ['action', 'mode', 'account'],
    registers,
  });
  const rows = new Counter({
    name: 'mj_batch_rows_finished_total',
    help: 'Rows whose result was stored, by status and failure class (none for a row without one)',
    labelNames: ['status', 'failure_class'],
    registers,
  });
  const refusals = new Counter({
    name: 'mj_batch_submit_refusals_total',
    help: 'Submits the API refused (nothing was created), by the reason it gave',
    labelNames: ['reason', 'account'],
    registers,
  });
  const mediaSeconds = new Histogram({
    name: 'mj_batch_media_seconds',
    help: 'Time a media activity took (download, thumbnails, upload), by activity and outcome',
    labelNames: ['activity', 'outcome'],
    buckets: MEDIA_BUCKETS,
    registers,
  });
  const mediaBytes = new Counter({
    name: 'mj_batch_media_bytes_total',
    help: 'Image bytes the media activities downloaded (from the image host, or S3 for a reprocess) and uploaded to S3',
    labelNames: ['direction'],
    registers,
  });
  const inUse = new Gauge({
    name: 'mj_batch_slots_in_use',
    help: "Leases held on the account's job slots now (queue-ahead leases included)",
    labelNames: ['account'],
    registers,
  });
  const effective = new Gauge({
    name: 'mj_batch_effective_slots',
    help: 'Job slots the account is given now (fewer than its slots after throttling, in a pool)',
    labelNames: ['account'],
    registers,
  });

  const recorder: MetricsRecorder = {
    jobSubmitted: (l) => jobs.inc(l),
    rowFinished: (l) => rows.inc({ status: l.status, failure_class: l.failureClass }),
    submitRefused: (l) => refusals.inc(l),
    mediaTimed: (l, seconds) => mediaSeconds.observe(l, seconds),
    mediaBytes: (direction, bytes) => mediaBytes.inc({ direction }, bytes),
  };

  async function refreshSlots(): Promise<void> {
    if (!opts.readSlots) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), opts.slotsTimeoutMs ?? 2000)));
    // A slow or failed reading leaves the gauges out of this scrape rather than holding the scrape or showing old values.
    const readings = await Promise.race([opts.readSlots().catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
    // Reset and set with no await between, so a scrape running alongside never sees the gauges half filled.
    inUse.reset();
    effective.reset();
    for (const r of readings ?? []) {
      inUse.set({ account: r.account }, r.inUse);
      effective.set({ account: r.account }, r.effectiveSlots);
    }
  }

  return {
    recorder,
    contentType: registers[0]!.contentType,
    async text() {
      await refreshSlots();
      return registers[0]!.metrics();
    },
  };
}
