import {
  describeButtons,
  gridButtons,
  hdUpscaledButtons,
  parsePress,
  shortenButtons,
  upscaledButtons,
  type Press,
  type SimButton,
} from './buttons';
import type { SimulatorOptions } from './options';
import { SeededRandom } from './random';

export type JobStatus = 'NOT_START' | 'SUBMITTED' | 'IN_PROGRESS' | 'SUCCESS' | 'FAILURE' | 'MODAL';
export type SimMode = 'FAST' | 'RELAX' | 'TURBO';
export type ImageFault = 'corrupt' | 'truncated' | 'oversized' | null;

/** What the job's image is, so any of its pixels can be redrawn on demand (deterministically). */
export type ImageSpec =
  | { kind: 'grid'; key: string; aspect: string }
  | { kind: 'tile'; key: string; aspect: string; index: number }
  | { kind: 'upscale'; key: string; aspect: string; index: number; factor: number };

/**
 * Faults a test can ask for per job, in the prompt: `[sim:fail]`, `[sim:stall]`, `[sim:corrupt]`, `[sim:truncated]`,
 * `[sim:oversized]`, `[sim:expired-url]`, `[sim:moderated]`. They apply to the job and to the jobs made from it (U1 of a
 * grid...). `[sim:lost-answer]` (gateway profile): every submit carrying it is accepted upstream, but the gateway loses
 * the answer.
 */
export type Directive = 'fail' | 'stall' | 'corrupt' | 'truncated' | 'oversized' | 'expired-url' | 'lost-answer' | 'moderated';

export function directivesOf(prompt: string): Set<Directive> {
  return new Set(
    [...prompt.matchAll(/\[sim:(fail|stall|corrupt|truncated|oversized|expired-url|lost-answer|moderated)\]/g)].map(
      (m) => m[1] as Directive,
    ),
  );
}

/**
 * The failReason of a job the proxy's own banned-word check stops when it is about to run: the C# Plus proxy checks
 * at execution, not at submit, after answering code 1/22 (trueai-org/midjourney-proxy
 * src/Midjourney.Services/DiscordService.cs, `info.Fail("可能包含敏感词")`). Nothing reaches Midjourney.
 */
export const PROXY_BANNED_REASON = '可能包含敏感词';

/**
 * The failReason of a job Midjourney's moderation refuses once it was sent: the embed title the proxies treat as an
 * error (`Banned prompt detected`: C# DiscordWebSocketService.cs errorTitles; igolaizola/bulkai parseError) in the
 * Java/Plus form `[<title>] <description>` (novicezk ErrorMessageHandler.java; Plus docs/api.md), with Midjourney's
 * moderator message as its answer for `banned_prompt_detected` reads (C# src/Midjourney.Tests/ResTest.cs).
 */
/**
 * The failReason of a job cancelled through `POST /mj/task/{id}/cancel`: the C# Plus proxy fails it
 * (trueai-org/midjourney-proxy 11.10.3 TaskController.Cancel, `Fail("取消任务")`); no server sets status CANCEL.
 */
export const CANCEL_REASON = '取消任务';

/** Where a job was when it was cancelled: not yet sent to Midjourney (NOT_START), running there, or a MODAL window. */
export type CancelledWhile = 'queued' | 'running' | 'modal';

export const MIDJOURNEY_BANNED_REASON =
  '[Banned prompt detected] Sorry! Our AI moderator thinks this prompt is probably against our community standards.';

/** How a job will run, decided when it is accepted. */

interface Plan {
  dispatchMs: number;
  runMs: number;
  steps: number[];
  stall: boolean;
  fail: boolean;
  /** `proxy`: the proxy's banned-word check fails it before it runs; `midjourney`: Midjourney refuses it once sent. */
  moderation: 'proxy' | 'midjourney' | null;
  imageFault: ImageFault;
}

/** What a MODAL job becomes once /submit/modal confirms it. */
interface AfterModal {
  kind: 'vary-region' | 'custom-zoom' | 'pic-reader' | 'prompt-analyzer';
  parent: SimJob;
}

export interface SimJob {
  id: string;
  hash: string;
  action: string;
  /** new-api's name for the action, which its gateway view shows. */
  gatewayAction: string;
  status: JobStatus;
  prompt: string;
  /** The prompt a gateway records at submit (for actions, the parent's) and never updates. */
  gatewayPrompt: string;
  promptEn: string;
  finalPrompt: string;
  description: string;
  /** The description of the submit answer (a gateway keeps it as the task's description). */
  submitDescription: string;
  state: string | null;
  notifyHook: string | null;
  mode: SimMode;
  accountId: number;
  parentId: string | null;
  customId: string | null;
  submitTime: number;
  startTime: number | null;
  finishTime: number | null;
  progress: string | null;
  imageUrl: string | null;
  failReason: string | null;
  buttons: SimButton[];
  properties: Record<string, unknown>;
  image?: ImageSpec;
  describePrompts?: string[];
  /** A MODAL job's paid work starts only at /submit/modal. */
  charged: boolean;
  plan: Plan;
  afterModal?: AfterModal;
  /** Set once `/mj/task/{id}/cancel` failed it. */
  cancelled?: CancelledWhile;
  slotSince?: number;
  timers: NodeJS.Timeout[];
}

export interface SubmitAnswer {
  /** HTTP status; 200 for every business answer (codes 1, 21, 22, 3, 4, 9, 23, 24). */
  status: number;
  code: number;
  description: string;
  result: string | null;
  properties: Record<string, unknown>;
  /** The created job, when one was. */
  job?: SimJob;
}

interface Account {
  id: number;
  running: Set<string>;
  queue: string[];
  busyMs: number;
}

export interface CommonParams {
  state?: string | null;
  notifyHook?: string | null;
}

/** A reason a submit was refused before any job existed (the HTTP layer turns it into each profile's shape). */
export class Refusal extends Error {
  constructor(
    readonly code: number,
    readonly description: string,
    readonly properties: Record<string, unknown> = {},
    readonly httpStatus = 200,
    readonly gatewayDescription?: string,
  ) {
    super(description);
  }
}

const TERMINAL: ReadonlySet<JobStatus> = new Set(['SUCCESS', 'FAILURE']);

/** The first of `words` the prompt contains, case-insensitively. */
function containsWord(prompt: string, words: readonly string[]): string | undefined {
  const lower = prompt.toLowerCase();
  return words.find((w) => w && lower.includes(w.toLowerCase()));
}

export function parseModeFromPrompt(prompt: string): SimMode | undefined {
  const m = /--(fast|relax|turbo)\b/i.exec(prompt);
  return m ? (m[1]!.toUpperCase() as SimMode) : undefined;
}

export function aspectOf(prompt: string): string {
  const m = /--(?:ar|aspect)\s+(\d+:\d+)/i.exec(prompt);
  return m ? m[1]! : '1:1';
}

/**
 * The simulated proxy: accounts with a few slots and a waiting queue each, jobs moving NOT_START → SUBMITTED →
 * IN_PROGRESS → SUCCESS/FAILURE on timers scaled by `speed`, and a ledger of every accepted job.
 */
export class Engine {
  readonly jobs = new Map<string, SimJob>();
  private readonly accounts: Account[];
  private readonly rng: SeededRandom;
  private lastId = 0;
  private readonly listeners: ((job: SimJob) => void)[] = [];
  readonly counters = { queueFullRefusals: 0, bannedRefusals: 0, validationRefusals: 0, moderatedFailures: 0 };
  readonly cancellations: Record<CancelledWhile, number> = { queued: 0, running: 0, modal: 0 };

  constructor(
    private readonly opts: SimulatorOptions,
    private readonly imageUrl: (job: SimJob, file: string) => string,
    /** Four prompts for an image key (Describe's answer). */
    private readonly describer: (key: string) => string[],
  ) {
    this.rng = new SeededRandom(opts.seed);
    this.accounts = Array.from({ length: opts.accounts }, (_, i) => ({ id: i + 1, running: new Set(), queue: [], busyMs: 0 }));
  }

  /** Called after every state or progress change (callbacks, the gateway view). */
  onChange(listener: (job: SimJob) => void): void {
    this.listeners.push(listener);
  }

  private changed(job: SimJob): void {
    for (const l of this.listeners) l(job);
  }

  private scaled(msAtSpeed1: number): number {
    return msAtSpeed1 / this.opts.speed;
  }

  /** 16-digit ids like the proxies': epoch ms followed by 3 digits, strictly increasing. */
  private newId(): string {
    const candidate = Date.now() * 1000 + this.rng.int(0, 999);
    this.lastId = Math.max(candidate, this.lastId + 1);
    return String(this.lastId);
  }

  private plan(action: string, press: Press | undefined, mode: SimMode, prompt: string): Plan {
    const r = this.rng;
    const asked = directivesOf(prompt);
    const s = (sec: number) => this.scaled(sec * 1000);
    let runMs: number;
    let dispatchMs = s(r.between(0.3, 1.2));
    if (press?.kind === 'upscale') runMs = s(r.between(2, 5));
    else if (press?.kind === 'hd-upscale') runMs = s(r.between(60, 120));
    else if (action === 'DESCRIBE' || action === 'SHORTEN') runMs = s(r.between(5, 15));
    else if (mode === 'TURBO') runMs = s(r.between(10, 25));
    else if (mode === 'RELAX') {
      runMs = s(r.between(60, 300));
      dispatchMs += s(r.between(0, 120)); // relax jobs wait in the proxy before they start
    } else runMs = s(r.between(30, 60));
    if (this.opts.jobMs !== undefined) [dispatchMs, runMs] = [this.opts.jobMs * 0.1, this.opts.jobMs * 0.9];
    const count = r.int(4, 6);
    const distinct = new Set<number>();
    while (distinct.size < count) distinct.add(r.int(3, 97));
    const steps = [...distinct].sort((a, b) => a - b);
    const f = this.opts.faults;
    const imageFault: ImageFault =
      asked.has('corrupt') || r.chance(f.corruptImage)
        ? 'corrupt'
        : asked.has('truncated') || r.chance(f.truncatedImage)
          ? 'truncated'
          : asked.has('oversized') || r.chance(f.oversizedImage)
            ? 'oversized'
            : null;
    return {
      dispatchMs,
      runMs,
      steps,
      stall: r.chance(f.stall) || asked.has('stall'),
      fail: r.chance(f.failure) || asked.has('fail'),
      moderation: containsWord(prompt, f.moderatedWords) ? 'proxy' : asked.has('moderated') ? 'midjourney' : null,
      imageFault,
    };
  }

  private bannedWord(prompt: string): string | undefined {
    return containsWord(prompt, this.opts.faults.bannedWords);
  }

  private pickAccount(): Account | undefined {
    const withRoom = this.accounts.filter((a) => a.running.size < this.opts.concurrency || a.queue.length < this.opts.queueSize);
    return withRoom.sort((a, b) => a.running.size + a.queue.length - (b.running.size + b.queue.length))[0];
  }

  private queueFull(): Refusal {
    this.counters.queueFullRefusals++;
    return this.opts.profile === 'plus'
      ? new Refusal(23, '队列已满，请稍后尝试', { discordInstanceId: null })
      : new Refusal(9, '提交失败，队列已满，请稍后重试');
  }

  /** Accepts a new imagine, blend, describe or shorten job (or refuses it). */
  submitNew(
    kind: 'IMAGINE' | 'BLEND' | 'DESCRIBE' | 'SHORTEN',
    p: { prompt: string; image?: ImageSpec; describePrompts?: string[] } & CommonParams,
    pathMode?: SimMode,
  ): SubmitAnswer {
    const banned = this.bannedWord(p.prompt);
    if (banned) {
      this.counters.bannedRefusals++;
      throw new Refusal(24, '可能包含敏感词', { promptEn: p.prompt, bannedWord: banned });
    }
    if (this.rng.chance(this.opts.faults.queueFull)) throw this.queueFull();
    const account = this.pickAccount();
    if (!account) throw this.queueFull();
    const mode = pathMode ?? parseModeFromPrompt(p.prompt) ?? 'FAST';
    const job = this.createJob({
      action: kind,
      gatewayAction: kind,
      prompt: p.prompt,
      mode,
      account,
      parentId: null,
      customId: null,
      common: p,
      press: undefined,
    });
    job.image = p.image;
    job.describePrompts = p.describePrompts;
    job.description =
      kind === 'IMAGINE'
        ? `/imagine ${p.prompt}`
        : kind === 'BLEND'
          ? `/blend ${job.id} ${p.prompt}`
          : kind === 'DESCRIBE'
            ? `/describe ${job.id}.png`
            : `/shorten ${p.prompt}`;
    return this.admit(job, account);
  }

  /**
   * Presses a button of a finished job, as the Plus proxy does (C# SubmitController.Action: 404 code 3 for a missing
   * parent, 200 code 4 关联任务状态错误 for one not SUCCESS). A gateway's own checks come before this (server.ts).
   */
  submitAction(parentId: string, customId: string, common: CommonParams, pathMode?: SimMode): SubmitAnswer {
    const parent = this.jobs.get(parentId);
    if (!parent) throw new Refusal(3, '关联任务不存在或已失效', {}, 404);
    const press = parsePress(customId);
    if (parent.status !== 'SUCCESS') throw new Refusal(4, '关联任务状态错误');
    if (!press || !parent.buttons.some((b) => b.customId === customId)) throw new Refusal(4, '未知的 Action 类型');
    if (press.kind === 'bookmark') return { status: 200, code: 1, description: '提交成功', result: parent.id, properties: {} };

    const account = this.accounts[parent.accountId - 1]!;
    const mode = pathMode ?? parent.mode;
    const { action, gatewayAction } = actionNames(press, parent.action);
    const modal =
      press.kind === 'vary-region' || press.kind === 'custom-zoom' || press.kind === 'pic-reader' || press.kind === 'prompt-analyzer';
    if (!modal && this.rng.chance(this.opts.faults.queueFull)) throw this.queueFull();
    if (!modal && account.running.size >= this.opts.concurrency && account.queue.length >= this.opts.queueSize) throw this.queueFull();
    const prompt = press.kind === 'pic-reader' ? (parent.describePrompts?.[press.index - 1] ?? parent.prompt) : parent.prompt;
    const job = this.createJob({ action, gatewayAction, prompt, mode, account, parentId: parent.id, customId, common, press });
    job.description = `/up ${parent.id} ${shortLabel(press)}`;
    job.image = nextImage(press, parent, job);
    if (press.kind === 'describe-retry') job.describePrompts = this.describer(`${parent.image?.key}|retry|${job.hash}`);
    if (modal) {
      job.status = 'MODAL';
      job.charged = false;
      job.afterModal = { kind: press.kind as AfterModal['kind'], parent };
      job.properties = { finalPrompt: prompt, remix: true };
      if (press.kind === 'vary-region') job.prompt = '';
      job.submitDescription = 'Waiting for window confirm';
      // Like CS, a window never confirmed expires (after 60 min at speed 1).
      if (this.opts.modalTimeoutMs > 0) this.at(job, this.opts.modalTimeoutMs, () => this.finish(job, 'FAILURE', '任务提交超时'));
      this.changed(job);
      return {
        status: 200,
        code: 21,
        description: 'Waiting for window confirm',
        result: job.id,
        properties: { finalPrompt: prompt, remix: true },
        job,
      };
    }
    return this.admit(job, account);
  }

  /** Confirms a MODAL job; it then queues and runs like any other. */
  submitModal(taskId: string, prompt: string | undefined, maskBase64: string | undefined): SubmitAnswer {
    const job = this.jobs.get(taskId);
    if (!job) throw new Refusal(3, '关联任务不存在或已失效', {}, 404);
    if (job.status !== 'MODAL' || !job.afterModal) throw new Refusal(4, '关联任务状态错误');
    if (job.afterModal.kind === 'vary-region' && !maskBase64) throw new Refusal(4, 'maskBase64不能为空');
    const finalPrompt = prompt?.trim() || job.afterModal.parent.prompt || (job.properties.finalPrompt as string | undefined) || '';
    if (!finalPrompt) throw new Refusal(4, 'prompt不能为空');
    const banned = this.bannedWord(finalPrompt);
    if (banned) {
      this.counters.bannedRefusals++;
      throw new Refusal(24, '可能包含敏感词', { promptEn: finalPrompt, bannedWord: banned });
    }
    const account = this.accounts[job.accountId - 1]!;
    if (account.running.size >= this.opts.concurrency && account.queue.length >= this.opts.queueSize) throw this.queueFull();
    job.prompt = finalPrompt;
    job.promptEn = finalPrompt;
    job.finalPrompt = finalPrompt;
    for (const timer of job.timers) clearTimeout(timer);
    job.timers = [];
    job.status = 'NOT_START';
    job.charged = true;
    job.plan = this.plan(job.action, undefined, job.mode, finalPrompt);
    if (job.afterModal.kind === 'pic-reader' || job.afterModal.kind === 'prompt-analyzer') {
      job.image = { kind: 'grid', key: finalPrompt, aspect: aspectOf(finalPrompt) };
    }
    return this.admit(job, account);
  }

  private createJob(a: {
    action: string;
    gatewayAction: string;
    prompt: string;
    mode: SimMode;
    account: Account;
    parentId: string | null;
    customId: string | null;
    common: CommonParams;
    press: Press | undefined;
  }): SimJob {
    const job: SimJob = {
      id: this.newId(),
      hash: this.rng.uuid(),
      action: a.action,
      gatewayAction: a.gatewayAction,
      status: 'NOT_START',
      prompt: a.prompt,
      gatewayPrompt: a.prompt,
      promptEn: a.prompt,
      finalPrompt: a.prompt,
      description: '',
      submitDescription: '提交成功',
      state: a.common.state ?? null,
      notifyHook: a.common.notifyHook ?? null,
      mode: a.mode,
      accountId: a.account.id,
      parentId: a.parentId,
      customId: a.customId,
      submitTime: Date.now(),
      startTime: null,
      finishTime: null,
      progress: null,
      imageUrl: null,
      failReason: null,
      buttons: [],
      properties: {},
      charged: true,
      plan: this.plan(a.action, a.press, a.mode, a.prompt),
      timers: [],
    };
    this.jobs.set(job.id, job);
    return job;
  }

  private admit(job: SimJob, account: Account): SubmitAnswer {
    job.properties = { ...job.properties, discordInstanceId: String(account.id), discordChannelId: String(account.id) };
    if (account.running.size < this.opts.concurrency) {
      this.start(job, account);
      job.submitDescription = '提交成功';
      return { status: 200, code: 1, description: '提交成功', result: job.id, properties: { discordInstanceId: String(account.id) }, job };
    }
    const ahead = account.queue.length;
    account.queue.push(job.id);
    job.submitDescription = `排队中，前面还有${ahead}个任务`;
    this.changed(job);
    return {
      status: 200,
      code: 22,
      description: job.submitDescription,
      result: job.id,
      properties: { numberOfQueues: ahead, discordInstanceId: String(account.id) },
      job,
    };
  }

  private at(job: SimJob, delayMs: number, fn: () => void): void {
    job.timers.push(setTimeout(fn, Math.max(0, delayMs)));
  }

  private start(job: SimJob, account: Account): void {
    account.running.add(job.id);
    job.slotSince = Date.now();
    this.changed(job);
    const { dispatchMs, runMs, steps, stall, fail, moderation } = job.plan;
    this.at(job, dispatchMs, () => {
      if (moderation === 'proxy') {
        // Failed as it leaves the queue: never started, no progress.
        this.counters.moderatedFailures++;
        this.finish(job, 'FAILURE', PROXY_BANNED_REASON);
        return;
      }
      job.status = 'SUBMITTED';
      job.startTime = Date.now();
      job.progress = '0%';
      this.changed(job);
      if (this.opts.taskTimeoutMs > 0) this.at(job, this.opts.taskTimeoutMs, () => this.finish(job, 'FAILURE', '任务超时'));
      const firstAt = runMs * 0.08;
      if (moderation === 'midjourney') {
        // Midjourney answers the interaction with its refusal instead of starting the job: no progress.
        this.at(job, firstAt, () => {
          this.counters.moderatedFailures++;
          this.finish(job, 'FAILURE', MIDJOURNEY_BANNED_REASON);
        });
        return;
      }
      const stepsShown = stall
        ? steps.slice(0, Math.max(1, Math.floor(steps.length / 2)))
        : fail
          ? steps.slice(0, Math.ceil(steps.length / 2))
          : steps;
      stepsShown.forEach((pct, i) => {
        this.at(job, firstAt + ((runMs - firstAt) * (i + 1)) / (steps.length + 1), () => {
          if (TERMINAL.has(job.status)) return;
          job.status = 'IN_PROGRESS';
          job.progress = `${pct}%`;
          if (job.image && !job.imageUrl) job.imageUrl = this.imageUrl(job, `${job.hash}_grid_0.webp`);
          this.changed(job);
        });
      });
      if (stall) return; // stuck IN_PROGRESS: only the task timeout ends it
      if (fail)
        this.at(job, runMs * 0.6, () => this.finish(job, 'FAILURE', '[Invalid parameter] The simulator failed this job on purpose'));
      else this.at(job, runMs, () => this.finish(job, 'SUCCESS'));
    });
  }

  /**
   * Cancels a job as the C# Plus proxy does (trueai-org/midjourney-proxy 11.10.3 TaskController.Cancel): an unfinished
   * job becomes FAILURE `取消任务`; a finished or unknown one is left as it is. A NOT_START job, waiting in its account's
   * queue or dequeued but not yet sent, is skipped when the proxy gets to it (DiscordService re-reads the record and
   * finds it completed): it never reaches Midjourney, so it is not charged and no notifyHook call is made. A SUBMITTED
   * or IN_PROGRESS job is already at Midjourney, which runs and charges it; the proxy only stops waiting for it, which
   * frees its slot and sends the final notify.
   */
  cancel(id: string): void {
    const job = this.jobs.get(id);
    if (!job || TERMINAL.has(job.status)) return;
    const account = this.accounts[job.accountId - 1]!;
    const where: CancelledWhile = job.status === 'NOT_START' ? 'queued' : job.status === 'MODAL' ? 'modal' : 'running';
    const queuedAt = account.queue.indexOf(job.id);
    if (queuedAt >= 0) account.queue.splice(queuedAt, 1);
    if (where === 'queued') job.charged = false;
    job.cancelled = where;
    this.cancellations[where]++;
    // A MODAL window is failed in the store only (TaskController's else branch): no notify either.
    this.finish(job, 'FAILURE', CANCEL_REASON, where === 'running');
  }

  private finish(job: SimJob, status: 'SUCCESS' | 'FAILURE', failReason?: string, notify = true): void {
    if (TERMINAL.has(job.status)) return;
    for (const t of job.timers) clearTimeout(t);
    job.timers = [];
    job.status = status;
    job.finishTime = Date.now();
    if (status === 'SUCCESS') {
      job.progress = '100%';
      job.imageUrl = job.image ? this.imageUrl(job, `${job.hash}.png`) : null;
      job.buttons = buttonsFor(job);
      job.properties = {
        ...job.properties,
        finalPrompt:
          job.action === 'DESCRIBE'
            ? (job.describePrompts ?? []).map((p, i) => `${['1️⃣', '2️⃣', '3️⃣', '4️⃣'][i]} ${p}`).join('\n\n')
            : job.finalPrompt,
        messageHash: job.hash,
        messageId: String(job.finishTime * 1000 + 1),
        nonce: String(job.submitTime * 1000 + 7),
        flags: 0,
        notifyHook: job.notifyHook,
      };
      if (job.action === 'DESCRIBE') job.promptEn = (job.describePrompts ?? []).join('\n\n');
      if (job.action === 'SHORTEN') {
        // CS puts Midjourney's analysis in both; a gateway keeps only properties.finalPrompt.
        job.description = shortenAnalysis(job.prompt);
        job.properties.finalPrompt = job.description;
      }
    } else {
      job.progress = '';
      job.failReason = failReason ?? 'failed';
    }
    this.release(job);
    if (notify) this.changed(job);
  }

  /** Frees the job's slot (if it held one) and starts the next waiting job in it. */
  private release(job: SimJob): void {
    const account = this.accounts[job.accountId - 1]!;
    if (!account.running.delete(job.id)) return;
    if (job.slotSince !== undefined) account.busyMs += Date.now() - job.slotSince;
    const next = account.queue.shift();
    if (next) this.start(this.jobs.get(next)!, account);
  }

  stats() {
    const now = Date.now();
    const charged = [...this.jobs.values()].filter((j) => j.charged);
    const count = (key: (j: SimJob) => string) =>
      charged.reduce<Record<string, number>>((acc, j) => ((acc[key(j)] = (acc[key(j)] ?? 0) + 1), acc), {});
    const accounts = this.accounts.map((a) => {
      const running = [...a.running].reduce((ms, id) => ms + (now - (this.jobs.get(id)?.slotSince ?? now)), 0);
      return {
        id: a.id,
        concurrency: this.opts.concurrency,
        running: a.running.size,
        queued: a.queue.length,
        busySlotSeconds: (a.busyMs + running) / 1000,
      };
    });
    return {
      acceptedPaidJobs: charged.length,
      byAction: count((j) => j.action),
      byMode: count((j) => j.mode),
      byStatus: count((j) => j.status),
      modalAwaitingConfirm: [...this.jobs.values()].filter((j) => !j.charged && !j.cancelled).length,
      cancelled: { ...this.cancellations },
      accounts,
      busySlotSeconds: accounts.reduce((s, a) => s + a.busySlotSeconds, 0),
      refused: { ...this.counters },
    };
  }

  ledger() {
    return [...this.jobs.values()].map((j) => ({
      id: j.id,
      action: j.action,
      customId: j.customId,
      prompt: j.prompt,
      state: j.state,
      parentId: j.parentId,
      mode: j.mode,
      accountId: j.accountId,
      status: j.status,
      charged: j.charged,
      failReason: j.failReason,
      cancelled: j.cancelled ?? null,
      submitTime: j.submitTime,
      startTime: j.startTime,
      finishTime: j.finishTime,
      slotStart: j.slotSince ?? null,
    }));
  }

  /** Stops every timer (server shutdown, or a reset between benchmark runs). */
  stop(): void {
    for (const j of this.jobs.values()) for (const t of j.timers) clearTimeout(t);
  }

  reset(): void {
    this.stop();
    this.jobs.clear();
    for (const a of this.accounts) Object.assign(a, { running: new Set(), queue: [], busyMs: 0 });
    Object.assign(this.counters, { queueFullRefusals: 0, bannedRefusals: 0, validationRefusals: 0, moderatedFailures: 0 });
    Object.assign(this.cancellations, { queued: 0, running: 0, modal: 0 });
  }
}

/**
 * new-api's action name for a button, or undefined for one it cannot relay (service/midjourney.go
 * CoverPlusActionToNormalAction answers `unknown_action:<customId>` for BOOKMARK, PicReader, Picread, animate...).
 */
export function gatewayActionOf(customId: string): string | undefined {
  const press = parsePress(customId);
  if (!press || ['bookmark', 'pic-reader', 'prompt-analyzer', 'describe-retry'].includes(press.kind)) return undefined;
  return actionNames(press, '').gatewayAction;
}

function actionNames(press: Press, parentAction: string): { action: string; gatewayAction: string } {
  switch (press.kind) {
    case 'upscale':
      return { action: 'UPSCALE', gatewayAction: 'UPSCALE' };
    case 'hd-upscale':
      return { action: 'UPSCALE', gatewayAction: 'UPSCALE' };
    case 'variation':
      return { action: 'VARIATION', gatewayAction: 'VARIATION' };
    case 'vary':
      return { action: 'VARIATION', gatewayAction: press.strength === 'subtle' ? 'LOW_VARIATION' : 'HIGH_VARIATION' };
    case 'vary-region':
      return { action: 'INPAINT', gatewayAction: 'INPAINT' };
    case 'reroll':
      return { action: parentAction === 'UPSCALE' ? 'IMAGINE' : 'REROLL', gatewayAction: 'REROLL' };
    case 'zoom':
      return { action: 'ZOOM', gatewayAction: 'ZOOM' };
    case 'custom-zoom':
      return { action: 'ZOOM', gatewayAction: 'CUSTOM_ZOOM' };
    case 'pan':
      return { action: 'PAN', gatewayAction: 'PAN' };
    case 'pic-reader':
    case 'prompt-analyzer':
      return { action: 'IMAGINE', gatewayAction: 'IMAGINE' };
    case 'describe-retry':
      return { action: 'DESCRIBE', gatewayAction: 'DESCRIBE' };
    case 'bookmark':
      return { action: 'ACTION', gatewayAction: 'ACTION' };
  }
}

function shortLabel(press: Press): string {
  switch (press.kind) {
    case 'upscale':
      return `U${press.index}`;
    case 'variation':
      return `V${press.index}`;
    case 'reroll':
      return 'R';
    default:
      return press.kind;
  }
}

/** The key of the grid a job's image comes from (grids key their own tiles). */
function baseKey(job: SimJob): { key: string; aspect: string; index?: number } {
  const img = job.image;
  if (!img) return { key: job.prompt, aspect: aspectOf(job.prompt) };
  return img.kind === 'grid' ? { key: img.key, aspect: img.aspect } : { key: img.key, aspect: img.aspect, index: img.index };
}

function nextImage(press: Press, parent: SimJob, job: SimJob): ImageSpec | undefined {
  const base = baseKey(parent);
  switch (press.kind) {
    case 'upscale':
      return { kind: 'tile', key: base.key, aspect: base.aspect, index: press.index };
    case 'hd-upscale':
      return { kind: 'upscale', key: base.key, aspect: base.aspect, index: base.index ?? 1, factor: press.factor };
    case 'describe-retry':
      return parent.image;
    case 'bookmark':
      return undefined;
    default:
      return { kind: 'grid', key: `${base.key}|${press.kind}|${job.hash}`, aspect: base.aspect };
  }
}

function buttonsFor(job: SimJob): SimButton[] {
  if (job.action === 'DESCRIBE') return describeButtons(job.describePrompts ?? []);
  if (job.action === 'SHORTEN') return shortenButtons(job.hash, 5);
  if (job.image?.kind === 'tile') return upscaledButtons(job.hash);
  if (job.image?.kind === 'upscale') return hdUpscaledButtons(job.hash);
  return gridButtons(job.hash);
}

/** Shorten's answer: Midjourney's analysis text with the shortened prompts it offers. */
export function shortenAnalysis(prompt: string): string {
  const words = prompt
    .replace(/--\S+(\s+\S+)?/g, '')
    .split(/\s+/)
    .filter(Boolean);
  const options = [1, 0.8, 0.6, 0.45, 0.3].map((share) => words.slice(0, Math.max(1, Math.round(words.length * share))).join(' '));
  return `**IMPORTANT TOKENS**\n${words.slice(0, 5).join(', ')}\n\n**Shortened prompts**\n\n${options.map((o, i) => `${['1️⃣', '2️⃣', '3️⃣', '4️⃣', '5️⃣'][i]} ${o}`).join('\n\n')}`;
}
