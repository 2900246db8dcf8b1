import { randomBytes, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import { taskSchema } from '../mj-client/schemas';
import { snapshotOf } from '../mj-client/snapshot';
import { taskUpdateSignal } from '../contracts/handlers';
import type { TaskSnapshot } from '../contracts/rows';

/** Hands a task update to the row's workflow; the worker signals it, `doctor` only keeps what arrives. */
export type TaskUpdateSink = (workflowId: string, snapshot: TaskSnapshot) => Promise<void>;

/** The worker's sink: a `taskUpdate` signal to the row's workflow. */
export const signalRow =
  (client: Client): TaskUpdateSink =>
  async (workflowId, snapshot) => {
    await client.workflow.getHandle(workflowId).signal(taskUpdateSignal, snapshot);
  };

export interface CallbackReceiverOptions {
  deliver: TaskUpdateSink;
  /** Where to listen; port 0 picks a free one. */
  host: string;
  port: number;
  /** The URL the Midjourney proxy can reach this receiver at (defaults to the listen address). */
  publicUrl?: string;
  /** Part of the path, so only the proxy we told can post. Random when not configured. */
  secret?: string;
  log?: (line: string) => void;
}

export interface CallbackReceiver {
  /** `<publicUrl>/mj/callback/<secret>`: what submits put in notifyHook (plus `?wf=<workflow id>`). */
  hookUrl: string;
  stats: { accepted: number; rejected: number; signalFailed: number };
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function readBody(req: http.IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        // Keep reading (and dropping) the rest: destroying the request here would cut the socket before the 413 is sent.
        chunks.length = 0;
        resolve(null);
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * Turns the proxy's notifyHook POSTs into `taskUpdate` signals to the row's workflow. Polling stays on: a lost
 * callback only makes a row notice its task later. The secret lives in this process only, never in a history.
 */
export async function startCallbackReceiver(opts: CallbackReceiverOptions): Promise<CallbackReceiver> {
  const secret = opts.secret ?? randomBytes(18).toString('base64url');
  const stats = { accepted: 0, rejected: 0, signalFailed: 0 };
  const server = http.createServer((req, res) => {
    const reply = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
    };
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://receiver');
      const match = /^\/mj\/callback\/([^/]+)$/.exec(url.pathname);
      if (req.method !== 'POST' || !match) return reply(404, 'not found');
      let given: string;
      try {
        given = decodeURIComponent(match[1]!);
      } catch {
        given = '';
      }
      if (!sameSecret(given, secret)) {
        stats.rejected++;
        return reply(403, 'forbidden');
      }
      const workflowId = url.searchParams.get('wf');
      if (!workflowId) return reply(400, 'missing wf');
      const body = await readBody(req);
      if (!body) return reply(413, 'too large');
      let task;
      try {
        task = taskSchema.parse(JSON.parse(body.toString('utf8')));
      } catch {
        stats.rejected++;
        return reply(400, 'not a task');
      }
      try {
        await opts.deliver(workflowId, snapshotOf(task));
        stats.accepted++;
        reply(200, 'ok');
      } catch (err) {
        // A finished or unknown workflow: nothing waits for this task any more, and the proxy need not retry.
        stats.signalFailed++;
        opts.log?.(`callback for ${workflowId} not delivered: ${(err as Error).message}`);
        reply(200, 'ignored');
      }
    })().catch(() => reply(500, 'error'));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  const base = (opts.publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(/\/+$/, '');
  return {
    hookUrl: `${base}/mj/callback/${encodeURIComponent(secret)}`,
    stats,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
