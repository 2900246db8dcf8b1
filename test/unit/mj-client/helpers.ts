import { MockAgent } from 'undici';
import { MjApiError, MjClient, type MjClientOptions } from '../../../mj-client';

export const BASE = 'http://mj.test';

/** A client whose requests go to an undici MockAgent: the real client code, no network. */
export function mockedClient(opts: Partial<MjClientOptions> = {}) {
  const agent = new MockAgent();
  agent.disableNetConnect();
  const pool = agent.get(BASE);
  const client = new MjClient({ baseUrl: BASE, apiKey: 'sk-test', dispatcher: agent, ...opts });
  return { agent, pool, client };
}

/** The MjApiError a promise rejects with (fails the test if it resolves or rejects with anything else). */
export async function mjError(p: Promise<unknown>): Promise<MjApiError> {
  const outcome = await p.then(
    (v) => ({ value: v }),
    (e: unknown) => ({ error: e }),
  );
  if (!('error' in outcome)) throw new Error(`expected an MjApiError, got a result: ${JSON.stringify(outcome.value)}`);
  if (!(outcome.error instanceof MjApiError)) throw new Error(`expected an MjApiError, got ${String(outcome.error)}`);
  return outcome.error;
}

export const sampleTask = {
  id: '1689231405853400',
  action: 'IMAGINE',
  status: 'SUCCESS',
  prompt: 'a cat',
  promptEn: 'a cat',
  description: '/imagine a cat',
  state: 'row-1',
  submitTime: 1689231405854,
  startTime: 1689231405900,
  finishTime: 1689231450000,
  imageUrl: 'https://cdn.example/x.png',
  progress: '100%',
  failReason: null,
  buttons: [{ customId: 'MJ::JOB::upsample::1::3dbbd469-36af-4a0f-8f02-df6c579e7011', emoji: '', label: 'U1', type: 2, style: 2 }],
  properties: { finalPrompt: 'a cat', messageHash: '3dbbd469-36af-4a0f-8f02-df6c579e7011' },
};
