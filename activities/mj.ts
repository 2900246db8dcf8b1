import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { activityInfo } from '@temporalio/activity';
import type { Dispatcher } from 'undici';
import { downloadImage, type DownloadPolicy } from '../media/download';
import { MediaError } from '../media/errors';
import { inspectImage } from '../media/thumbnails';
import { parseS3Uri } from '../manifest/source';
import { intentOf } from '../mj-client/buttons';
import type { MjClient, SubmitAccepted } from '../mj-client/client';
import type { Mode } from '../mj-client/routing';
import type { MjTask } from '../mj-client/schemas';
import { parseProgress } from '../mj-client/task';
import type { Kind } from '../manifest/row';
import type { SubmitPolicy, TaskSnapshot } from '../workflows/shared';
import { toFailure } from './failures';
import { s3StatusOf } from '../storage/objects';

export interface MjDeps {
  client: MjClient;
  s3: S3Client;
  /** For input images given as http(s) URLs. */
  downloadPolicy: DownloadPolicy;
  dispatcher: Dispatcher;
  /** `<base>/mj/callback/<secret>`: set when the worker runs a callback receiver. The secret never leaves the worker. */
  callbackUrl?: string;
}

export type SubmitJobInput =
  | { op: 'new'; kind: Kind; prompt: string; images: string[]; mode?: Mode; state: string; policy: SubmitPolicy; callbacks: boolean }
  | { op: 'action'; taskId: string; customId: string; mode?: Mode; state: string; policy: SubmitPolicy; callbacks: boolean }
  | { op: 'modal'; taskId: string; prompt: string; mode?: Mode; state: string; policy: SubmitPolicy; callbacks: boolean };

export interface SubmitJobResult {
  taskId: string;
  modal: boolean;
  queued: boolean;
}

/** Input images must reach the API as data URLs; they are fetched here, inside the activity, never via workflow history. */
const MAX_INPUT_IMAGE_BYTES = 10 * 1024 * 1024;

export function snapshotOf(task: MjTask): TaskSnapshot {
  const props = task.properties ?? {};
  const finalPrompt = typeof props.finalPrompt === 'string' ? props.finalPrompt : undefined;
  const text = task.action === 'DESCRIBE' ? finalPrompt ?? task.promptEn ?? undefined
    : task.action === 'SHORTEN' ? finalPrompt ?? task.description ?? undefined : undefined;
  return {
    taskId: task.id,
    status: task.status,
    progress: parseProgress(task.progress),
    imageUrl: task.imageUrl || undefined,
    failReason: task.failReason || undefined,
    buttons: (task.buttons ?? []).map((b) => ({ customId: b.customId, intent: intentOf(b.customId) })),
    finalPrompt,
    text,
  };
}

export function createMjActivities(deps: MjDeps) {
  async function dataUrl(ref: string): Promise<string> {
    let bytes: Buffer;
    const s3ref = parseS3Uri(ref);
    if (s3ref) {
      try {
        const res = await deps.s3.send(new GetObjectCommand({ Bucket: s3ref.bucket, Key: s3ref.key }));
        bytes = Buffer.from(await res.Body!.transformToByteArray());
      } catch (err) {
        const status = s3StatusOf(err);
        throw new MediaError('download', `${ref}: ${status === 404 ? 'no such object' : (err as Error).message}`, status !== 404 && status !== 403);
      }
    } else {
      bytes = (await downloadImage(ref, { ...deps.downloadPolicy, maxBytes: MAX_INPUT_IMAGE_BYTES }, deps.dispatcher)).bytes;
    }
    if (bytes.length > MAX_INPUT_IMAGE_BYTES) throw new MediaError('download', `${ref} is larger than ${MAX_INPUT_IMAGE_BYTES} bytes`, false);
    const info = await inspectImage(bytes);
    return `data:image/${info.format};base64,${bytes.toString('base64')}`;
  }

  return {
    /** One paid submit. Its failures say whether a retry can help, and what an ambiguous answer means under the policy. */
    async submitJob(input: SubmitJobInput): Promise<SubmitJobResult> {
      const common = {
        state: input.state,
        notifyHook: input.callbacks && deps.callbackUrl ? `${deps.callbackUrl}?wf=${encodeURIComponent(activityInfo().workflowExecution?.workflowId ?? '')}` : undefined,
      };
      const call = { mode: input.mode };
      try {
        let accepted: SubmitAccepted;
        if (input.op === 'action') accepted = await deps.client.submitAction({ taskId: input.taskId, customId: input.customId, ...common }, call);
        else if (input.op === 'modal') accepted = await deps.client.submitModal({ taskId: input.taskId, prompt: input.prompt, ...common }, call);
        else {
          const images = await Promise.all(input.images.map(dataUrl));
          switch (input.kind) {
            case 'imagine': accepted = await deps.client.submitImagine({ prompt: input.prompt, base64Array: images.length ? images : undefined, ...common }, call); break;
            case 'blend': accepted = await deps.client.submitBlend({ base64Array: images, dimensions: 'SQUARE', ...common }, call); break;
            case 'describe': accepted = await deps.client.submitDescribe({ base64: images[0]!, ...common }, call); break;
            case 'shorten': accepted = await deps.client.submitShorten({ prompt: input.prompt, ...common }, call); break;
          }
        }
        return { taskId: accepted.taskId, modal: accepted.modal, queued: accepted.queued };
      } catch (err) {
        throw toFailure(err, input.policy);
      }
    },

    /** The task's state now, reduced to what the workflow needs. */
    async fetchTask(input: { taskId: string; mode?: Mode }): Promise<TaskSnapshot> {
      try {
        return snapshotOf(await deps.client.fetchTask(input.taskId, { mode: input.mode }));
      } catch (err) {
        throw toFailure(err);
      }
    },
  };
}
