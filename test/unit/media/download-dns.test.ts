import type { Dispatcher } from 'undici';
import { createDownloadDispatcher, DEFAULT_DOWNLOAD_POLICY, downloadImage, type DownloadPolicy } from '../../../media/download';
import { MediaError } from '../../../media/errors';

// The DNS-checking dispatcher looks names up through node:dns; names under `.test` get canned answers here, so a
// test can make a name resolve to any address (a DNS rebinding to a private address, say) without a DNS server.
const mockAnswers: Record<string, { address: string; family: number }[]> = {
  'rebind.test': [
    { address: '192.0.2.10', family: 4 },
    { address: '127.0.0.1', family: 4 },
  ],
  'metadata.test': [{ address: '169.254.169.254', family: 4 }],
  'ula.test': [{ address: 'fd00::5', family: 6 }],
  'mapped.test': [{ address: '::ffff:10.0.0.7', family: 6 }],
  // TEST-NET-1 (RFC 5737): public, never routed, so a connection to it can only fail as a network error.
  'public.test': [{ address: '192.0.2.10', family: 4 }],
};

jest.mock('node:dns', () => {
  const actual = jest.requireActual<typeof import('node:dns')>('node:dns');
  const lookup = (hostname: string, options: unknown, callback: (...args: unknown[]) => void) => {
    const canned = mockAnswers[hostname]; // read at call time, long after the constant is set
    if (!canned) return (actual.lookup as (...a: unknown[]) => void)(hostname, options, callback);
    const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all;
    setImmediate(() => (all ? callback(null, canned) : callback(null, canned[0]!.address, canned[0]!.family)));
  };
  return { ...actual, lookup };
});

const policy: DownloadPolicy = { ...DEFAULT_DOWNLOAD_POLICY, allowPrivate: false, timeoutMs: 1_000 };
let dispatcher: Dispatcher;
beforeAll(() => {
  dispatcher = createDownloadDispatcher(policy);
});
afterAll(() => dispatcher.destroy());

async function mediaError(p: Promise<unknown>): Promise<MediaError> {
  const outcome = await p.then(
    (v) => ({ value: v }),
    (e: unknown) => ({ error: e }),
  );
  if (!('error' in outcome)) throw new Error(`expected a MediaError, got a result: ${String(outcome.value)}`);
  if (!(outcome.error instanceof MediaError)) throw new Error(`expected a MediaError, got ${String(outcome.error)}`);
  return outcome.error;
}

test.each([
  ['rebind.test', '127.0.0.1'],
  ['metadata.test', '169.254.169.254'],
  ['ula.test', 'fd00::5'],
  ['mapped.test', '::ffff:10.0.0.7'],
])('a name resolving to a private address (%s → %s) is refused at connect time, non-retryable', async (host, address) => {
  const err = await mediaError(downloadImage(`http://${host}/img.png`, policy, dispatcher));
  expect(err).toMatchObject({ failureClass: 'download', retryable: false });
  expect(err.message).toBe(`host ${host} resolves to the private address ${address}`);
});

test('a name resolving only to public addresses passes the check (the connection itself then fails as a retryable network error)', async () => {
  const err = await mediaError(downloadImage('http://public.test/img.png', policy, dispatcher));
  expect(err.message).not.toMatch(/private address/);
  expect(err).toMatchObject({ failureClass: 'download', retryable: true });
});
