import * as fs from 'node:fs';
import * as path from 'node:path';
import { CreateBucketCommand, HeadBucketCommand, HeadObjectCommand, ListBucketsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SearchAttributeType } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time';
import { createS3Client, type S3Settings } from '../storage/s3-client';
import { ALL_SEARCH_ATTRIBUTES } from '../contracts/search-attributes';
import { waitUntil } from './processes';
import { s3StatusOf } from '../storage/objects';

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;

const INDEXED_TYPES: Record<SearchAttributeType, temporal.api.enums.v1.IndexedValueType> = {
  [SearchAttributeType.TEXT]: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  [SearchAttributeType.KEYWORD]: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.INT]: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  [SearchAttributeType.DOUBLE]: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  [SearchAttributeType.BOOL]: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  [SearchAttributeType.DATETIME]: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  [SearchAttributeType.KEYWORD_LIST]: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

async function withConnection<T>(address: string, fn: (c: Connection) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address, connectTimeout: '2s' });
  try {
    return await fn(connection);
  } finally {
    await connection.close();
  }
}

/** Waits until the Temporal frontend answers (and, for our own dev server, the Web UI too). */
export async function checkTemporal(address: string, timeoutMs: number, uiUrl?: string): Promise<void> {
  await waitUntil(`Temporal at ${address}`, () => withConnection(address, (c) => c.workflowService.getSystemInfo({})), timeoutMs);
  if (uiUrl) {
    await waitUntil(
      `Temporal Web UI at ${uiUrl}`,
      async () => {
        const res = await fetch(uiUrl, { signal: AbortSignal.timeout(2_000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
      },
      timeoutMs,
    );
  }
}

/**
 * Registers the custom search attributes the batch workflow uses, and raises namespace retention (on our own
 * dev server only: the dev server keeps closed workflows for 24 h by default).
 */
export async function prepareNamespace(
  address: string,
  namespace: string,
  opts: { retentionDays?: number; log?: (line: string) => void },
): Promise<void> {
  const log = opts.log ?? (() => undefined);
  await withConnection(address, async (c) => {
    const existing = await c.operatorService.listSearchAttributes({ namespace });
    const known = { ...existing.customAttributes, ...existing.systemAttributes };
    const missing = ALL_SEARCH_ATTRIBUTES.filter((k) => !(k.name in known));
    if (missing.length > 0) {
      try {
        await c.operatorService.addSearchAttributes({
          namespace,
          searchAttributes: Object.fromEntries(missing.map((k) => [k.name, INDEXED_TYPES[k.type]])),
        });
        log(`registered search attributes: ${missing.map((k) => k.name).join(', ')}`);
      } catch (err) {
        // A managed cluster may not let this client register them; listing by batch then needs an operator.
        log(
          `could not register search attributes (${(err as Error).message}); ask the cluster's operator to add: ` +
            missing.map((k) => `${k.name}=${k.type}`).join(', '),
        );
      }
    }
    if (opts.retentionDays !== undefined) {
      const wantSeconds = opts.retentionDays * 86_400;
      const ns = await c.workflowService.describeNamespace({ namespace });
      const current = Number(ns.config?.workflowExecutionRetentionTtl?.seconds ?? 0);
      if (current < wantSeconds) {
        await c.workflowService.updateNamespace({
          namespace,
          config: { workflowExecutionRetentionTtl: msToTs(wantSeconds * 1000) },
        });
        log(`namespace ${namespace}: retention raised to ${opts.retentionDays} days`);
      }
    }
  });
}

/** Waits until the S3 endpoint answers an authenticated request. */
export async function checkS3(settings: S3Settings, timeoutMs: number): Promise<void> {
  const s3 = createS3Client(settings);
  try {
    await waitUntil(`S3 at ${settings.endpoint ?? 'AWS'}`, () => s3.send(new ListBucketsCommand({})), timeoutMs);
  } finally {
    s3.destroy();
  }
}

export async function ensureBucket(settings: S3Settings): Promise<void> {
  const s3 = createS3Client(settings);
  try {
    await s3.send(new HeadBucketCommand({ Bucket: settings.bucket }));
  } catch (err) {
    const status = s3StatusOf(err);
    if (status !== 404) throw err;
    await s3.send(new CreateBucketCommand({ Bucket: settings.bucket }));
  } finally {
    s3.destroy();
  }
}

/**
 * Copies the bundled example inputs (examples/inputs/*) to `examples/inputs/` in the local stack's bucket, where the
 * example manifests' blend and describe rows point. Only for the stack's own S3 server, never a user's bucket.
 */
export async function seedExampleInputs(settings: S3Settings, dir: string): Promise<void> {
  const s3 = createS3Client(settings);
  try {
    for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      const key = `examples/inputs/${name}`;
      const exists = await s3.send(new HeadObjectCommand({ Bucket: settings.bucket, Key: key })).then(
        () => true,
        () => false,
      );
      if (!exists) await s3.send(new PutObjectCommand({ Bucket: settings.bucket, Key: key, Body: fs.readFileSync(path.join(dir, name)) }));
    }
  } finally {
    s3.destroy();
  }
}

/** Waits until the simulator answers its health endpoint. */
export async function checkSimulator(url: string, timeoutMs: number): Promise<void> {
  await waitUntil(
    `the Midjourney simulator at ${url}`,
    async () => {
      const res = await fetch(`${url}/_sim/health`, { signal: AbortSignal.timeout(2_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    },
    timeoutMs,
  );
}
