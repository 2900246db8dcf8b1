import { z } from 'zod';

// Runtime shapes of what a Midjourney-proxy (Plus protocol) or a gateway relaying it returns. Lenient where the
// layers differ (nulls vs 0, extra keys), strict where code further down relies on a value.

const idLike = z.union([z.string(), z.number()]).transform(String);
const nullableString = z.string().nullish();
const epochMs = z.number().nullish();

export const TASK_STATUSES = ['NOT_START', 'SUBMITTED', 'MODAL', 'IN_PROGRESS', 'FAILURE', 'SUCCESS', 'CANCEL', ''] as const;

export const buttonSchema = z.looseObject({
  customId: z.string().min(1),
  emoji: nullableString,
  label: nullableString,
  type: z.number().nullish(),
  style: z.number().nullish(),
});

export const taskSchema = z.looseObject({
  id: idLike,
  action: nullableString,
  // A gateway shows "" before its first upstream poll; unknown future statuses are kept, not rejected.
  status: z
    .string()
    .nullish()
    .transform((s) => s ?? ''),
  prompt: nullableString,
  promptEn: nullableString,
  description: nullableString,
  state: nullableString,
  submitTime: epochMs,
  startTime: epochMs,
  finishTime: epochMs,
  imageUrl: nullableString,
  progress: nullableString,
  failReason: nullableString,
  // Link buttons and other entries without a customId cannot be pressed: they are dropped, not fatal.
  buttons: z
    .array(z.unknown())
    .nullish()
    .transform((list) =>
      list === null || list === undefined
        ? list
        : list.flatMap((b) => {
            const parsed = buttonSchema.safeParse(b);
            return parsed.success ? [parsed.data] : [];
          }),
    ),
  properties: z.record(z.string(), z.unknown()).nullish(),
  // The Plus view only (C# TaskInfo): the speed mode the task ran in (FAST|RELAX|TURBO|null), the task a button was
  // pressed on, and that button. A gateway view has no mode and no parentId, and customId "".
  mode: nullableString,
  parentId: idLike.nullish(),
  customId: nullableString,
});

export const submitResultSchema = z.looseObject({
  code: z.number().int(),
  description: z.string().nullish(),
  // A task id, an id list (uploads, PicReader::all), or null on failures.
  result: z.union([idLike, z.array(idLike)]).nullish(),
  properties: z.record(z.string(), z.unknown()).nullish(),
});

export const imageSeedSchema = z.looseObject({
  code: z.number().int(),
  description: z.string().nullish(),
  result: idLike.nullish(),
});

export type MjButton = z.infer<typeof buttonSchema>;
export type MjTask = z.infer<typeof taskSchema>;
export type MjTaskStatus = (typeof TASK_STATUSES)[number];
export type SubmitResult = z.infer<typeof submitResultSchema>;

export type BotType = 'MID_JOURNEY' | 'NIJI_JOURNEY';

interface Common {
  /** Echoed back on the task and in callbacks (mj-batch puts the row key here). At most 255 characters. */
  state?: string;
  /** Per-task callback URL: the proxy POSTs the whole task on changes. */
  notifyHook?: string;
  accountFilter?: Record<string, unknown>;
}

export interface ImagineRequest extends Common {
  prompt: string;
  /** Reference images as data URLs (`data:image/png;base64,...`). */
  base64Array?: string[];
  botType?: BotType;
}

export interface BlendRequest extends Common {
  /** 2 to 5 images as data URLs. */
  base64Array: string[];
  dimensions?: 'PORTRAIT' | 'SQUARE' | 'LANDSCAPE';
  botType?: BotType;
}

export interface DescribeRequest extends Common {
  /** The image as a data URL, or `link` (an http(s) URL); one of the two. */
  base64?: string;
  link?: string;
  botType?: BotType;
}

export interface ShortenRequest extends Common {
  prompt: string;
  botType?: BotType;
}

export interface ActionRequest extends Common {
  taskId: string;
  customId: string;
  enableRemix?: boolean;
  chooseSameChannel?: boolean;
}

export interface ModalRequest extends Common {
  /** The MODAL task's id (returned by /submit/action), not its parent's. */
  taskId: string;
  prompt?: string;
  /** PNG data URL marking the region to regenerate (Vary Region only). */
  maskBase64?: string;
}
