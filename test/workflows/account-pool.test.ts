// accountPoolWorkflow as it is, on a local dev server: leases asked for by test-only holder workflows (which keep the
// grants they are sent), given back, refused and released by signals as the rows would, and the pool's state read by
// its query. Which account each lease goes to, what refusals do to an account, parks and probes, pinned leases, and
// the reason the pool gives when nothing can be granted.
import type { WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { grantsQuery } from './pool-holder-workflow';
import {
  accountPoolQuery,
  PARK_AFTER_REFUSALS,
  poolAcceptedSignal,
  poolAcquireSignal,
  poolReturnSignal,
  releaseSlotSignal,
  unique,
  useWorkflowTestEnv,
  type AccountPoolInput,
  type AccountPoolState,
  type accountPoolWorkflow,
  type AccountSpec,
  type AccountState,
  type PoolGrant,
  type PoolLease,
  type PoolReturn,
} from './harness';

const env = useWorkflowTestEnv(require.resolve('./pool-workflows'));

const TEN_MINUTES = 10 * 60_000;

const account = (name: string, slots: number, over: Partial<AccountSpec> = {}): AccountSpec => ({
  name,
  baseUrl: `https://${name}.example`,
  apiKeyEnv: `MJ_KEY_${name.toUpperCase()}`,
  slots,
  ...over,
});

/** One pool workflow and the holders of its leases, on a worker of the test's own. */
class Pool {
  private readonly holders: string[] = [];

  constructor(
    readonly handle: WorkflowHandle<typeof accountPoolWorkflow>,
    private readonly taskQueue: string,
  ) {}

  /** Starts a holder: the workflow the pool tells of the grants of leases that name it. */
  async holder(): Promise<string> {
    const workflowId = unique('pool-holder');
    await env.current.env.client.workflow.start('poolHolderWorkflow', { workflowId, taskQueue: this.taskQueue, args: [] });
    this.holders.push(workflowId);
    return workflowId;
  }

  /** Asks for the leases, in this order. */
  async acquire(holder: string, ...leases: (string | Omit<PoolLease, 'holder'>)[]): Promise<void> {
    for (const l of leases) await this.handle.signal(poolAcquireSignal, { holder, ...(typeof l === 'string' ? { id: l } : l) });
  }

  release(leaseId: string): Promise<void> {
    return this.handle.signal(releaseSlotSignal, leaseId);
  }

  giveBack(back: PoolReturn): Promise<void> {
    return this.handle.signal(poolReturnSignal, back);
  }

  accepted(leaseId: string, account: string): Promise<void> {
    return this.handle.signal(poolAcceptedSignal, { leaseId, account });
  }

  state(): Promise<AccountPoolState> {
    return this.handle.query(accountPoolQuery);
  }

  grants(holder: string): Promise<PoolGrant[]> {
    return env.current.env.client.workflow.getHandle(holder).query(grantsQuery);
  }

  /** Asks `read` until `check` holds (a condition on the workflows' state, not a fixed sleep). */
  async until<T>(what: string, read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (check(value)) return value;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** The holder's grants once it has `n` of them. */
  grantsUntil(holder: string, n: number): Promise<PoolGrant[]> {
    return this.until(
      `${n} grants to ${holder}`,
      () => this.grants(holder),
      (g) => g.length >= n,
    );
  }

  stateUntil(what: string, check: (s: AccountPoolState) => boolean): Promise<AccountPoolState> {
    return this.until(what, () => this.state(), check);
  }

  async stop(): Promise<void> {
    for (const id of [this.handle.workflowId, ...this.holders])
      await env.current.env.client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
  }
}

/** Runs `fn` with a pool of `accounts` (its first probe after `firstProbeMs`, default ten minutes: no probe in a test). */
async function withPool(accounts: AccountSpec[], over: Partial<AccountPoolInput>, fn: (pool: Pool) => Promise<void>): Promise<void> {
  const t = env.current;
  const taskQueue = unique('tq-pool');
  const worker = await Worker.create({
    connection: t.env.nativeConnection,
    namespace: t.env.namespace ?? 'default',
    taskQueue,
    workflowBundle: t.bundle,
    // The pool's only activity: no lease is ever stale here.
    activities: { findStaleLeases: async () => [] },
  });
  await worker.runUntil(async () => {
    const input: AccountPoolInput = { accounts, leaseTtlMs: 24 * 3_600_000, firstProbeMs: TEN_MINUTES, ...over };
    const handle = await t.env.client.workflow.start<typeof accountPoolWorkflow>('accountPoolWorkflow', {
      workflowId: unique('pool'),
      taskQueue,
      args: [input],
    });
    const pool = new Pool(handle, taskQueue);
    try {
      await fn(pool);
    } finally {
      await pool.stop();
    }
  });
}

const accountOf = (s: AccountPoolState, name: string): AccountState => {
  const a = s.accounts.find((x) => x.name === name);
  if (!a) throw new Error(`no account ${name} in ${JSON.stringify(s)}`);
  return a;
};
const inUse = (s: AccountPoolState) => Object.fromEntries(s.accounts.map((a) => [a.name, a.inUse]));
/** Where each grant went, sorted: grants sent at once reach their holder in any order. */
const where = (grants: PoolGrant[]) => grants.map((g) => `${g.leaseId}@${g.account}${g.probe ? ' (probe)' : ''}`).sort();

test('leases go to the least loaded account, the weight breaking ties, then the file order; a release frees a slot for the next in line', async () => {
  const accounts = [account('a', 2), account('b', 2), account('c', 1, { weight: 2 })];
  await withPool(accounts, {}, async (pool) => {
    const holder = await pool.holder();
    await pool.acquire(holder, 'L1', 'L2', 'L3', 'L4', 'L5', 'L6');
    // All idle: c by its weight; then a and b, idle and of equal weight, in file order; then half-full a and b.
    expect(where(await pool.grantsUntil(holder, 5))).toEqual(['L1@c', 'L2@a', 'L3@b', 'L4@a', 'L5@b']);
    const full = await pool.stateUntil('one lease waiting', (s) => s.waiting === 1);
    expect(inUse(full)).toEqual({ a: 2, b: 2, c: 1 });
    expect(full.stalled).toBeUndefined();
    expect(full.accounts.map((a) => [a.name, a.status, a.effectiveSlots])).toEqual([
      ['a', 'active', 2],
      ['b', 'active', 2],
      ['c', 'active', 1],
    ]);

    await pool.release('L3');
    expect(where(await pool.grantsUntil(holder, 6))).toEqual(['L1@c', 'L2@a', 'L3@b', 'L4@a', 'L5@b', 'L6@b']);
    const after = await pool.stateUntil('nothing waiting', (s) => s.waiting === 0);
    expect(inUse(after)).toEqual({ a: 2, b: 2, c: 1 });
  });
});

test('a throttled refusal halves the effective slots, which hold rows back; a round of clean rows adds one back', async () => {
  await withPool([account('a', 4)], {}, async (pool) => {
    const holder = await pool.holder();
    await pool.acquire(holder, 'L1', 'L2');
    await pool.grantsUntil(holder, 2);

    await pool.giveBack({ leaseId: 'L1', account: 'a', refusal: { reason: 'throttled', message: 'queue is full' } });
    let s = await pool.stateUntil('a throttled', (x) => accountOf(x, 'a').effectiveSlots === 2);
    expect(accountOf(s, 'a')).toMatchObject({ status: 'active', slots: 4, effectiveSlots: 2, inUse: 2, refusalsLastHour: 1 });

    // Two held (the refused one too, until it is given back) of two effective slots: L3 waits.
    await pool.acquire(holder, 'L3');
    s = await pool.stateUntil('L3 waiting', (x) => x.waiting === 1);
    expect(s.stalled).toBeUndefined();
    await pool.release('L1'); // refused: not a clean row
    expect(where(await pool.grantsUntil(holder, 3))).toEqual(['L1@a', 'L2@a', 'L3@a']);
    s = await pool.stateUntil('L3 granted', (x) => x.waiting === 0);
    expect(accountOf(s, 'a').effectiveSlots).toBe(2);

    await pool.release('L2');
    s = await pool.stateUntil('L2 back', (x) => accountOf(x, 'a').inUse === 1);
    expect(accountOf(s, 'a').effectiveSlots).toBe(2);
    await pool.release('L3');
    s = await pool.stateUntil('a round of clean rows', (x) => accountOf(x, 'a').effectiveSlots === 3);
    expect(accountOf(s, 'a')).toMatchObject({ status: 'active', effectiveSlots: 3, inUse: 0 });
  });
});

test(`${PARK_AFTER_REFUSALS} throttled refusals in a row park the account; the row asked again waits, and the query says why`, async () => {
  await withPool([account('a', 4)], {}, async (pool) => {
    const holder = await pool.holder();
    await pool.acquire(holder, 'L1');
    const seen: number[] = [];
    for (let i = 1; i <= PARK_AFTER_REFUSALS; i++) {
      await pool.grantsUntil(holder, i);
      await pool.giveBack({ leaseId: 'L1', account: 'a', refusal: { reason: 'throttled', message: `429 #${i}` }, again: { holder } });
      const s = await pool.stateUntil(`refusal ${i}`, (x) => accountOf(x, 'a').refusalsLastHour === i);
      seen.push(accountOf(s, 'a').effectiveSlots);
    }
    // Halved each time (4, 2, 1, never below 1), then parked with one.
    expect(seen).toEqual([2, ...Array<number>(PARK_AFTER_REFUSALS - 1).fill(1)]);
    // Asked again and granted again on a after every refusal but the last.
    expect(where(await pool.grants(holder))).toEqual(Array<string>(PARK_AFTER_REFUSALS).fill('L1@a'));

    const s = await pool.stateUntil('a parked', (x) => accountOf(x, 'a').status === 'parked' && x.waiting === 1);
    const a = accountOf(s, 'a');
    expect(a).toMatchObject({
      status: 'parked',
      effectiveSlots: 1,
      inUse: 0,
      parked: { reason: 'throttled', message: `429 #${PARK_AFTER_REFUSALS}`, probes: 0 },
    });
    expect(Date.parse(a.parked!.probeAt) - Date.parse(a.parked!.since)).toBe(TEN_MINUTES);
    expect(s.stalled).toEqual({ reason: 'no account can take rows: a parked', until: a.parked!.probeAt });
  });
});

test('quota parks an account at once; the refused row and the waiting ones go to the other account', async () => {
  await withPool([account('a', 2), account('b', 2)], {}, async (pool) => {
    const holder = await pool.holder();
    await pool.acquire(holder, 'L1', 'L2', 'L3', 'L4', 'L5', 'L6');
    expect(where(await pool.grantsUntil(holder, 4))).toEqual(['L1@a', 'L2@b', 'L3@a', 'L4@b']);

    await pool.giveBack({ leaseId: 'L1', account: 'a', refusal: { reason: 'quota', message: 'out of fast hours' }, again: { holder } });
    let s = await pool.stateUntil('a parked', (x) => accountOf(x, 'a').status === 'parked');
    expect(accountOf(s, 'a').parked).toMatchObject({ reason: 'quota', message: 'out of fast hours', probes: 0 });
    expect(accountOf(s, 'a').inUse).toBe(1);
    expect(s.waiting).toBe(3);
    // b is active: the pool is not stalled, its rows wait for b's slots.
    expect(s.stalled).toBeUndefined();

    await pool.release('L2');
    await pool.release('L4');
    // L1 was first in line (it had waited already), then L5; L3's slot on a, once free, is not used.
    await pool.release('L3');
    expect(where(await pool.grantsUntil(holder, 6))).toEqual(['L1@a', 'L1@b', 'L2@b', 'L3@a', 'L4@b', 'L5@b']);
    s = await pool.stateUntil('a empty', (x) => accountOf(x, 'a').inUse === 0);
    expect(inUse(s)).toEqual({ a: 0, b: 2 });
    expect(s.waiting).toBe(1);
    expect(accountOf(s, 'a')).toMatchObject({ status: 'parked', effectiveSlots: 1 });
    expect((await pool.grants(holder)).filter((g) => g.account === 'a').map((g) => g.leaseId)).toEqual(['L1', 'L3']);
  });
});

test('a pinned lease waits for its account while later ones pass it; `again` re-queues to the holder and account it names', async () => {
  await withPool([account('a', 2), account('b', 1)], {}, async (pool) => {
    const batch = await pool.holder();
    const row = await pool.holder();
    await pool.acquire(batch, 'L1', { id: 'L2', account: 'b' }, { id: 'L3', account: 'b' }, 'L4');
    // L3 waits for b although a has room; L4, asked after it, goes by.
    expect(where(await pool.grantsUntil(batch, 3))).toEqual(['L1@a', 'L2@b', 'L4@a']);
    let s = await pool.stateUntil('L3 waiting', (x) => x.waiting === 1);
    expect(inUse(s)).toEqual({ a: 2, b: 1 });

    // L1's row must move to b (its parent's task is there); the grant goes to the row, not the batch.
    await pool.giveBack({ leaseId: 'L1', account: 'a', again: { holder: row, account: 'b' } });
    s = await pool.stateUntil('L1 waiting for b', (x) => x.waiting === 2 && accountOf(x, 'a').inUse === 1);
    expect(s.stalled).toBeUndefined();
    await pool.release('L2');
    expect(where(await pool.grantsUntil(row, 1))).toEqual(['L1@b']);
    await pool.release('L1');
    expect(where(await pool.grantsUntil(batch, 4))).toEqual(['L1@a', 'L2@b', 'L3@b', 'L4@a']);
    s = await pool.stateUntil('nothing waiting', (x) => x.waiting === 0);
    expect(inUse(s)).toEqual({ a: 1, b: 1 });
    expect(await pool.grants(row)).toHaveLength(1);
  });
});

test('every account parked: the query says so for each, and until the earliest probe', async () => {
  await withPool([account('a', 1), account('b', 1)], {}, async (pool) => {
    const holder = await pool.holder();
    await pool.acquire(holder, 'L1', 'L2', 'L3');
    await pool.grantsUntil(holder, 2);
    await pool.giveBack({ leaseId: 'L1', account: 'a', refusal: { reason: 'unauthorized', message: '401 bad key' } });
    await pool.giveBack({ leaseId: 'L2', account: 'b', refusal: { reason: 'forbidden', message: '403 banned' } });
    const s = await pool.stateUntil('both parked', (x) => x.accounts.every((a) => a.status === 'parked') && x.stalled !== undefined);
    expect(s.accounts.map((a) => [a.name, a.parked?.reason, a.parked?.message])).toEqual([
      ['a', 'unauthorized', '401 bad key'],
      ['b', 'forbidden', '403 banned'],
    ]);
    const earliest = Math.min(...s.accounts.map((a) => Date.parse(a.parked!.probeAt)));
    expect(s.stalled).toEqual({ reason: 'no account can take rows: a parked, b parked', until: new Date(earliest).toISOString() });
    expect(s.waiting).toBe(1);
    // Refused and kept: the leases still hold their slots until the rows give them back.
    expect(inUse(s)).toEqual({ a: 1, b: 1 });
  });
});

test('the daily cap is charged at the grant and refunded when a refused lease is given back; a capped pool says until when', async () => {
  await withPool([account('a', 3, { dailyJobs: 3 })], {}, async (pool) => {
    const holder = await pool.holder();
    await pool.acquire(holder, { id: 'L1', jobs: 2 }, { id: 'L2', jobs: 1 }, 'L3');
    await pool.grantsUntil(holder, 2);
    let s = await pool.stateUntil('a capped', (x) => accountOf(x, 'a').status === 'capped' && x.stalled !== undefined);
    const a = accountOf(s, 'a');
    expect(a).toMatchObject({ jobsToday: 3, dailyJobs: 3, inUse: 2 });
    expect(s.stalled).toEqual({ reason: 'no account can take rows: a capped', until: a.opensAt });
    // The next UTC midnight (the default zone).
    const midnight = new Date(Date.now());
    midnight.setUTCHours(24, 0, 0, 0);
    expect(a.opensAt).toBe(midnight.toISOString());

    // L2's submit is refused: its job is given back to the day, and it is asked again (first in line).
    await pool.giveBack({ leaseId: 'L2', account: 'a', refusal: { reason: 'throttled', message: '429' }, again: { holder } });
    s = await pool.stateUntil('L2 refunded', (x) => accountOf(x, 'a').jobsToday === 2);
    expect(accountOf(s, 'a')).toMatchObject({ status: 'active', effectiveSlots: 1, inUse: 1 });
    expect(s.waiting).toBe(2);
    // L1 ends cleanly: a round at one slot grows it to two; L2 is granted (the day full again), L3 still waits.
    await pool.release('L1');
    expect(where(await pool.grantsUntil(holder, 3))).toEqual(['L1@a', 'L2@a', 'L2@a']);
    s = await pool.stateUntil('capped again', (x) => accountOf(x, 'a').status === 'capped');
    expect(accountOf(s, 'a')).toMatchObject({ jobsToday: 3, effectiveSlots: 2, inUse: 1 });
    expect(s.waiting).toBe(1);
  });
});

test('a parked account gets one probe when it is due, before a free healthy account; a refused probe parks it again; an accepted one rejoins it with half its slots', async () => {
  await withPool([account('a', 3), account('b', 3)], { firstProbeMs: 1000, maxProbeMs: 4000 }, async (pool) => {
    const holder = await pool.holder();
    await pool.acquire(holder, 'L1');
    await pool.grantsUntil(holder, 1);
    await pool.giveBack({ leaseId: 'L1', account: 'a', refusal: { reason: 'quota', message: 'no quota' }, again: { holder } });
    expect(where(await pool.grantsUntil(holder, 2))).toEqual(['L1@a', 'L1@b']);
    let s = await pool.stateUntil('a parked', (x) => accountOf(x, 'a').status === 'parked');
    const firstProbeAt = Date.parse(accountOf(s, 'a').parked!.probeAt);

    // Once its probe is due, the next lease probes a, although b has two free slots; the one after goes to b.
    await pool.until(
      'the probe due',
      async () => Date.now(),
      (now) => now > firstProbeAt,
    );
    await pool.acquire(holder, 'L2', 'L3');
    expect(where(await pool.grantsUntil(holder, 4))).toEqual(['L1@a', 'L1@b', 'L2@a (probe)', 'L3@b']);

    // The probe is refused: a parks again (one probe counted), L2 goes to b (now full).
    await pool.giveBack({ leaseId: 'L2', account: 'a', refusal: { reason: 'quota', message: 'still no quota' }, again: { holder } });
    expect(where(await pool.grantsUntil(holder, 5))).toEqual(['L1@a', 'L1@b', 'L2@a (probe)', 'L2@b', 'L3@b']);
    s = await pool.stateUntil('a parked again', (x) => accountOf(x, 'a').parked?.probes === 1);
    expect(accountOf(s, 'a')).toMatchObject({
      status: 'parked',
      inUse: 0,
      parked: { reason: 'quota', message: 'still no quota', probes: 1 },
    });
    expect(Date.parse(accountOf(s, 'a').parked!.since)).toBeLessThan(firstProbeAt);
    expect(inUse(s)).toEqual({ a: 0, b: 3 });

    // L4 waits (b full, a parked), and the pool wakes by itself when the next probe is due; L5 waits behind the probe.
    await pool.acquire(holder, 'L4', 'L5');
    expect(where(await pool.grantsUntil(holder, 6)).filter((g) => g.startsWith('L4'))).toEqual(['L4@a (probe)']);
    s = await pool.stateUntil('L5 waiting', (x) => x.waiting === 1);
    expect(accountOf(s, 'a').status).toBe('parked');

    await pool.accepted('L4', 'a');
    expect(where(await pool.grantsUntil(holder, 7)).filter((g) => g.startsWith('L5'))).toEqual(['L5@a']);
    s = await pool.stateUntil('a back', (x) => accountOf(x, 'a').status === 'active' && x.waiting === 0);
    expect(accountOf(s, 'a')).toMatchObject({ effectiveSlots: 2, inUse: 2, slots: 3 });
    expect(accountOf(s, 'a').parked).toBeUndefined();
    expect(s.stalled).toBeUndefined();
  });
});
