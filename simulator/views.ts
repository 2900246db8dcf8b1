import type { SimJob } from './engine';

/** The task as a Plus-protocol proxy returns it from fetch and POSTs it to notifyHook (nulls included). */
export function plusView(job: SimJob) {
  return {
    id: job.id,
    action: job.action,
    status: job.status,
    prompt: job.prompt,
    promptEn: job.promptEn,
    description: job.description,
    state: job.state,
    submitTime: job.submitTime,
    startTime: job.startTime,
    finishTime: job.finishTime,
    imageUrl: job.imageUrl,
    progress: job.progress,
    failReason: job.failReason,
    buttons: job.buttons,
    properties: job.properties,
    mode: job.mode,
    botType: 'MID_JOURNEY',
    parentId: job.parentId,
    customId: job.customId,
  };
}

export type PlusView = ReturnType<typeof plusView>;

/**
 * What a new-api gateway shows: its own record, refreshed from the upstream only when it polls (every 15 s).
 * Until the first poll: status "", progress "0%", zeros and empty strings. Numbers are 0, never null; failures
 * read "100%"; properties shrink to the prompts; imageUrl points at the gateway's own /mj/image/{id} relay under its
 * configured ServerAddress, whether or not that address is reachable (relay/relay-mj.go coverMidjourneyTaskDto).
 */
export function gatewayView(job: SimJob, polled: PlusView | undefined, serverAddress: string, submittedAt: number) {
  const base = {
    id: job.id,
    action: job.gatewayAction,
    customId: job.customId ?? '',
    botType: '',
    prompt: job.gatewayPrompt,
    description: job.submitDescription,
    videoUrl: '',
    videoUrls: null,
    maskBase64: '',
  };
  if (!polled) {
    return {
      ...base,
      promptEn: '',
      state: '',
      submitTime: submittedAt,
      startTime: 0,
      finishTime: 0,
      imageUrl: '',
      status: '',
      progress: '0%',
      failReason: '',
      buttons: null,
      properties: null,
    };
  }
  const success = polled.status === 'SUCCESS';
  const failed = polled.status === 'FAILURE';
  const relay = polled.imageUrl ? `${serverAddress}/mj/image/${job.id}${success ? '' : `?rand=${process.hrtime.bigint()}`}` : '';
  return {
    ...base,
    promptEn: polled.promptEn ?? '',
    state: polled.state ?? '',
    submitTime: polled.submitTime ?? 0,
    startTime: polled.startTime ?? 0,
    finishTime: polled.finishTime ?? 0,
    imageUrl: relay,
    status: polled.status,
    progress: failed ? '100%' : (polled.progress ?? '0%'),
    failReason: polled.failReason ?? '',
    buttons: polled.buttons.length > 0 ? polled.buttons : null,
    properties: { finalPrompt: (polled.properties.finalPrompt as string | undefined) ?? polled.prompt, finalZhPrompt: '' },
  };
}
