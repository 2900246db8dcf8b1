import { cpus } from 'node:os';
import type { EffectiveConfig } from './config';
import { DEFAULT_DOWNLOAD_POLICY, type DownloadPolicy } from '../media/download';
import { isPrivateAddress } from '../media/download';

/**
 * Image downloads: private addresses are blocked unless the Midjourney API itself is local (the simulator), or
 * MJ_IMAGE_ALLOW_PRIVATE=1. MJ_IMAGE_HOSTS restricts downloads to a comma-separated allow-list (`*.cdn.example`).
 */
export function downloadPolicyFrom(config: EffectiveConfig, env: NodeJS.ProcessEnv = process.env): DownloadPolicy {
  let apiIsLocal = false;
  try {
    const host = new URL(config.mj.baseUrl ?? '').hostname.replace(/^\[|\]$/g, '');
    apiIsLocal = host === 'localhost' || isPrivateAddress(host);
  } catch {
    apiIsLocal = false;
  }
  const flag = env.MJ_IMAGE_ALLOW_PRIVATE;
  return {
    ...DEFAULT_DOWNLOAD_POLICY,
    allowPrivate: flag ? /^(1|true|yes)$/i.test(flag) : apiIsLocal,
    allowHosts: (env.MJ_IMAGE_HOSTS ?? '').split(',').map((h) => h.trim()).filter(Boolean),
    maxBytes: env.MJ_IMAGE_MAX_BYTES ? Number(env.MJ_IMAGE_MAX_BYTES) : DEFAULT_DOWNLOAD_POLICY.maxBytes,
  };
}

/** Media work is CPU-bound (sharp): about one image per core. */
export function mediaConcurrencyFrom(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.MJ_BATCH_MEDIA_CONCURRENCY);
  return Number.isInteger(n) && n > 0 ? n : Math.max(1, cpus().length);
}
