import type { EffectiveConfig } from './config';
import { DEFAULT_DOWNLOAD_POLICY, type DownloadPolicy } from '../media/download';
import { isPrivateAddress } from '../media/download';

/**
 * Image downloads: private addresses are blocked unless the Midjourney API itself is local (the simulator), or
 * MJ_IMAGE_ALLOW_PRIVATE is on. MJ_IMAGE_HOSTS restricts downloads to an allow-list (`*.cdn.example`).
 */
export function downloadPolicyFrom(config: EffectiveConfig): DownloadPolicy {
  let apiIsLocal = false;
  try {
    const host = new URL(config.mj.baseUrl ?? '').hostname.replace(/^\[|\]$/g, '');
    apiIsLocal = host === 'localhost' || isPrivateAddress(host);
  } catch {
    apiIsLocal = false;
  }
  const { imageAllowPrivate, imageHosts, imageMaxBytes } = config.worker;
  return { ...DEFAULT_DOWNLOAD_POLICY, allowPrivate: imageAllowPrivate ?? apiIsLocal, allowHosts: imageHosts, maxBytes: imageMaxBytes };
}
