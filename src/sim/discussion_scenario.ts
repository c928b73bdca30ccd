/**
 * The discussion workload: simulated nodes run the discussion service (publisher, reader and the
 * service's own DHT adapter) over the simulated DHT with memory stores. The network grows and
 * settles as in the standard scenario; authors (each with its own Ed25519 key from the seed) then
 * start threads, and a shuffled mix of posts, replies, votes and reads follows, each from a random
 * node, threads chosen by a Zipf popularity. After each post acknowledged, reads from random other
 * nodes check when it became visible. One seed gives one report (apart from `wall_ms` and
 * `memory`).
 *
 * @module
 */

import { assert } from "../core/assert.ts";
import { ed25519KeyPairFromSecretKey } from "../core/crypto.ts";
import { RhizomeError } from "../core/errors.ts";
import { NodeId } from "../core/node_id.ts";
import { type Prng, randomBytes, randomFloat, randomInt } from "../core/rng.ts";
import { recordRules } from "../content/record_rules.ts";
import { liveEntries, threadIndex } from "../content/key_schema.ts";
import { RecordKind } from "../content/records.ts";
import {
  messagePageDefault,
  threadIndexPagesUsedMax,
  threadPageDefault,
} from "../services/discussion/mod.ts";
import { type NextTask, SimAsyncDriver } from "./async_driver.ts";
import {
  buildDiscussionReport,
  type DiscussionReport,
  type OperationKind,
  type OperationSample,
  type VisibilitySample,
} from "./discussion_report.ts";
import { RequestMeter, SimAuthors, SimDiscussionNodes } from "./discussion_nodes.ts";
import type { SimNetwork } from "./network.ts";
import { commonNumbers, growAndStore, type ScenarioHooks, simulate } from "./scenario.ts";
import type { SimCluster } from "./cluster.ts";

export type { DiscussionReport } from "./discussion_report.ts";
export type { DiscussionNumbers, DiscussionScenarioOptions } from "./scenario_options.ts";
import type { DiscussionNumbers, DiscussionScenarioOptions } from "./scenario_options.ts";

/** Callbacks into the environment: the scenario's own, plus the wait for the next task. */
export interface DiscussionHooks extends ScenarioHooks {
  /** Waits until every queued promise continuation has run (see {@link NextTask}). */
  nextTask: NextTask;
}

/**
 * When the reads that check a post's visibility start, in ms after the post was acknowledged:
 * at once, then doubling, so a post visible at once costs one read and a late one is timed to
 * within a factor of two (a read still running when the next is due delays it). After the last
 * (51 s) the post counts as not visible.
 */
export const visibilityProbeDelaysMs: readonly number[] = [
  0,
  100,
  200,
  400,
  800,
  1_600,
  3_200,
  6_400,
  12_800,
  25_600,
  51_200,
];

/**
 * Draws of a random node before the scenario gives up finding one that runs nothing: the
 * operations and probes in flight are a few dozen at most, so in any network of a reasonable
 * size a free node comes within a few draws; a thousand failures mean the network is too small.
 */
export const freeNodeDrawsMax = 1_000;

/**
 * Runs the discussion workload.
 *
 * @param options Seed, sizes, faults and node settings.
 * @param hooks Heap measurement, progress output and the wait for the next task.
 * @returns The report: plain JSON-serialisable data.
 * @throws {RangeError} When an option is out of range.
 * @throws {Error} When the run hits a bug (an assertion, a liveness failure, an exception that is
 *   no `RhizomeError` from the service); the message starts with the seed.
 */
export async function runDiscussionScenario(
  options: DiscussionScenarioOptions,
  hooks: DiscussionHooks,
): Promise<DiscussionReport> {
  const numbers = resolveDiscussionOptions(options);
  return await simulate(
    numbers,
    hooks,
    (network, heapBytesBefore) =>
      runWorkload(network, numbers, options, { ...hooks, heapBytesBefore }),
  );
}

/** A thread the workload started, and the messages posted in it. */
interface WorkloadThread {
  id: string;
  messages: string[];
}

/** What one run shares between its operations. */
interface Workload {
  network: SimNetwork;
  cluster: SimCluster;
  driver: SimAsyncDriver;
  services: SimDiscussionNodes;
  meter: RequestMeter;
  prng: Prng;
  numbers: DiscussionNumbers;
  authors: string[];
  threads: WorkloadThread[];
  /** Cumulative Zipf weights over `threads`, by rank (set once the threads are started). */
  zipf: number[];
  /** Nodes running an operation or a probe. */
  busy: Set<number>;
  /** Author and target of every vote cast, so none is repeated. */
  voted: Map<string, "up" | "down">;
  samples: OperationSample[];
  visibility: VisibilitySample[];
  /** Probes scheduled or running. */
  probesPending: number;
  /** Threads and posts started so far: numbers their titles and bodies. */
  started: number;
  operationMsMax: number;
}

async function runWorkload(
  network: SimNetwork,
  numbers: DiscussionNumbers,
  options: DiscussionScenarioOptions,
  hooks: DiscussionHooks & { heapBytesBefore: number },
): Promise<DiscussionReport> {
  const meter = new RequestMeter();
  const grown = growAndStore(
    network,
    { ...numbers, values: 0, valueBytesMin: 1, valueBytesMax: 1 },
    options,
    hooks,
    "discussion",
    {
      rules: recordRules,
      streams: true,
      observer: meter,
    },
  );
  const { cluster, prng, phase } = grown;
  network.setCauses((from) => meter.causeOf(cluster.indexOf(from)));
  const driver = new SimAsyncDriver(network, hooks.nextTask);
  const authors = new SimAuthors();
  const names: string[] = [];
  for (let i = 0; i < numbers.authors; i++) {
    const name = `author-${i}`;
    authors.add(name, ed25519KeyPairFromSecretKey(randomBytes(prng, new Uint8Array(32))));
    names.push(name);
  }
  const workload: Workload = {
    network,
    cluster,
    driver,
    services: new SimDiscussionNodes(cluster, network, driver, authors.source),
    meter,
    prng,
    numbers,
    authors: names,
    threads: [],
    zipf: [],
    busy: new Set(),
    voted: new Map(),
    samples: [],
    visibility: [],
    probesPending: 0,
    started: 0,
    operationMsMax: grown.operationMsMax,
  };
  const workStartMs = network.clock.nowMs();

  await runBatch(workload, "thread", numbers.threads, () => newThread(workload));
  phase(`started ${workload.threads.length} of ${numbers.threads} threads`);
  workload.zipf = zipfCumulative(workload.threads.length, numbers.zipfExponent);

  const mix: OperationKind[] = [
    ...Array<OperationKind>(numbers.posts).fill("post"),
    ...Array<OperationKind>(numbers.votes).fill("vote"),
    ...Array<OperationKind>(numbers.reads - Math.floor(numbers.reads / 2)).fill("list"),
    ...Array<OperationKind>(Math.floor(numbers.reads / 2)).fill("show"),
  ];
  shuffle(mix, prng);
  const progressStep = Math.max(1, Math.floor(mix.length / 10));
  let finished = 0;
  await runBatch(workload, "operation", mix.length, async (index) => {
    await runMixed(workload, mix[index]);
    if (++finished % progressStep === 0) {
      phase(`ran ${finished}/${mix.length} posts, votes and reads`);
    }
  });
  await driver.runUntil(() => workload.probesPending === 0, "the visibility probes");
  phase(`checked the visibility of ${workload.visibility.length} posts`);
  const heapBytesAfter = hooks.heapBytes?.() ?? 0;

  return buildDiscussionReport({
    numbers: { ...numbers, values: 0 },
    settings: options.settings,
    network: network.counters(),
    cluster: cluster.counters(),
    virtualMs: network.clock.nowMs() - grown.runStartMs,
    workloadVirtualMs: network.clock.nowMs() - workStartMs,
    bytesPerNode: grown.bytesPerNode,
    bytesPerNodeAfterWorkload: (heapBytesAfter - hooks.heapBytesBefore) / numbers.nodes,
    serviceNodes: workload.services.size,
    join: grown.join,
    routingTableSizes: grown.routingTableSizes,
    putsFailed: 0,
    putAcks: [],
    samples: workload.samples,
    visibility: workload.visibility,
  });
}

/**
 * Runs `count` operations, at most `operationsInflightMax` at once, each started from the event
 * loop at the virtual instant the previous one ended, with a watchdog on each.
 */
async function runBatch(
  workload: Workload,
  label: string,
  count: number,
  start: (index: number) => Promise<void>,
): Promise<void> {
  const { network, driver, operationMsMax } = workload;
  let started = 0;
  let finished = 0;
  let failure: unknown;
  const launch = (): void => {
    if (started >= count) return;
    const index = started++;
    const startMs = network.clock.nowMs();
    let isDone = false;
    network.schedule(startMs + operationMsMax, () => {
      if (isDone) return;
      throw new Error(
        `Liveness bug: ${label} ${index}, started at virtual ${startMs} ms, has not finished ` +
          `after ${operationMsMax} ms`,
      );
    });
    driver.wake();
    start(index).then(
      () => {
        isDone = true;
        finished++;
        network.schedule(network.clock.nowMs(), launch);
      },
      (error) => {
        isDone = true;
        finished++;
        failure ??= error;
      },
    );
  };
  const nowMs = network.clock.nowMs();
  for (let slot = 0; slot < Math.min(workload.numbers.operationsInflightMax, count); slot++) {
    network.schedule(nowMs, launch);
  }
  await driver.runUntil(() => finished === count || failure !== undefined, `the ${label}s`);
  if (failure !== undefined) throw failure;
}

/**
 * Runs one operation on a free node, metering its requests and time; a `RhizomeError` is the
 * operation's failure (recorded by its code), anything else a bug that ends the run.
 */
async function measured<T>(
  workload: Workload,
  kind: OperationKind,
  origin: number,
  operation: () => Promise<T>,
  missing: (result: T) => string[] = () => [],
): Promise<{ result?: T; startMs: number }> {
  const { network, meter, busy } = workload;
  busy.add(origin);
  meter.open(origin);
  const startMs = network.clock.nowMs();
  const sample: OperationSample = {
    kind,
    ok: false,
    complete: false,
    latencyMs: 0,
    requests: 0,
    ownRequests: 0,
  };
  try {
    const result = await operation();
    sample.ok = true;
    sample.complete = missing(result).length === 0;
    return { result, startMs };
  } catch (error) {
    if (!(error instanceof RhizomeError)) throw error;
    sample.error = error.code;
    return { startMs };
  } finally {
    sample.latencyMs = network.clock.nowMs() - startMs;
    const { own, elsewhere } = meter.close(origin);
    sample.requests = own + elsewhere;
    sample.ownRequests = own;
    busy.delete(origin);
    workload.samples.push(sample);
  }
}

async function newThread(workload: Workload): Promise<void> {
  const { prng } = workload;
  const author = workload.authors[randomInt(prng, workload.authors.length)];
  const number = workload.started++;
  const origin = freeNode(workload);
  const { result } = await measured(
    workload,
    "thread",
    origin,
    () =>
      workload.services.at(origin).publisher.newThread({
        title: `Thread ${number}`,
        body: text(prng, `Opening post of thread ${number}.`),
        author,
      }),
  );
  if (result) workload.threads.push({ id: result.id, messages: [] });
}

function runMixed(workload: Workload, kind: OperationKind): Promise<void> {
  if (workload.threads.length === 0) return Promise.resolve();
  switch (kind) {
    case "post":
      return post(workload);
    case "vote":
      return vote(workload);
    case "list":
      return list(workload);
    default:
      return show(workload);
  }
}

async function post(workload: Workload): Promise<void> {
  const { prng, numbers } = workload;
  const thread = workload.threads[zipfRank(workload.zipf, prng)];
  const replyTo = thread.messages.length > 0 && randomFloat(prng) < numbers.replyFraction
    ? thread.messages[randomInt(prng, thread.messages.length)]
    : undefined;
  const kind = replyTo === undefined ? "post" : "reply";
  const author = workload.authors[randomInt(prng, workload.authors.length)];
  const origin = freeNode(workload);
  const body = text(prng, `Message ${workload.started++} in ${thread.id.slice(0, 8)}.`);
  const { result, startMs } = await measured(
    workload,
    kind,
    origin,
    () =>
      workload.services.at(origin).publisher.post({
        thread: NodeId.fromHex(thread.id),
        replyTo: replyTo === undefined ? undefined : NodeId.fromHex(replyTo),
        body,
        author,
      }),
  );
  if (!result) return;
  thread.messages.push(result.id);
  probeVisibility(workload, thread.id, result.id, origin, startMs);
}

async function vote(workload: Workload): Promise<void> {
  const { prng } = workload;
  const thread = workload.threads[zipfRank(workload.zipf, prng)];
  const choices = [thread.id, ...thread.messages];
  const target = choices[randomInt(prng, choices.length)];
  const author = workload.authors[randomInt(prng, workload.authors.length)];
  // Mostly up; the same vote twice is refused, so a repeat turns the author's vote around.
  let direction: "up" | "down" = randomFloat(prng) < 0.8 ? "up" : "down";
  const voteKey = `${author}/${target}`;
  if (workload.voted.get(voteKey) === direction) direction = direction === "up" ? "down" : "up";
  // Taken before the vote goes out: a concurrent vote of the same author on the same target
  // turns the other way instead of repeating this one. Should this one fail, the next is still
  // a vote nothing refuses (the other way, or none held).
  workload.voted.set(voteKey, direction);
  const origin = freeNode(workload);
  await measured(
    workload,
    "vote",
    origin,
    () =>
      workload.services.at(origin).publisher.vote({
        target: NodeId.fromHex(target),
        direction,
        author,
      }),
  );
}

async function list(workload: Workload): Promise<void> {
  const origin = freeNode(workload);
  await measured(
    workload,
    "list",
    origin,
    () =>
      workload.services.at(origin).reader.listThreads({
        order: "recent",
        limit: threadPageDefault,
      }),
    (page) => page.missing,
  );
}

async function show(workload: Workload): Promise<void> {
  const thread = workload.threads[zipfRank(workload.zipf, workload.prng)];
  const origin = freeNode(workload);
  await measured(
    workload,
    "show",
    origin,
    () =>
      workload.services.at(origin).reader.showThread({
        thread: NodeId.fromHex(thread.id),
        limit: messagePageDefault,
      }),
    (view) => view.missing,
  );
}

/**
 * Schedules the reads that find when a post became visible: from a random other node, at each
 * of {@link visibilityProbeDelaysMs} after the acknowledgement until one sees it. A reader finds
 * a message through its thread's index pages (as `thread show` does), so a probe reads the pages
 * from the first until one holds the message's entry or is absent.
 */
function probeVisibility(
  workload: Workload,
  thread: string,
  message: string,
  origin: number,
  startMs: number,
): void {
  const { network } = workload;
  const ackMs = network.clock.nowMs();
  const sample: VisibilitySample = {
    visibleAfterStartMs: undefined,
    visibleAfterAckMs: undefined,
    probes: 0,
    requests: 0,
  };
  workload.visibility.push(sample);
  const threadId = NodeId.fromHex(thread);
  const messageId = NodeId.fromHex(message);
  const probe = async (attempt: number): Promise<void> => {
    const reader = freeNode(workload, origin);
    const probeStartMs = network.clock.nowMs();
    workload.busy.add(reader);
    workload.meter.open(reader);
    let seen = false;
    try {
      seen = await indexHolds(workload, reader, threadId, messageId);
    } catch (error) {
      if (!(error instanceof RhizomeError)) throw error;
    } finally {
      const { own, elsewhere } = workload.meter.close(reader);
      sample.requests += own + elsewhere;
      workload.busy.delete(reader);
    }
    sample.probes++;
    if (seen) {
      sample.visibleAfterStartMs = network.clock.nowMs() - startMs;
      sample.visibleAfterAckMs = probeStartMs - ackMs;
    } else if (attempt + 1 < visibilityProbeDelaysMs.length) {
      schedule(attempt + 1);
      return;
    }
    workload.probesPending--;
  };
  const schedule = (attempt: number): void => {
    // A probe that took longer than the gap to the next starts the next at once.
    const atMs = Math.max(network.clock.nowMs(), ackMs + visibilityProbeDelaysMs[attempt]);
    network.schedule(atMs, () => {
      workload.driver.wake();
      probe(attempt).catch((error) => {
        // A bug in a probe ends the run from the event loop, where the driver sees it.
        network.schedule(network.clock.nowMs(), () => {
          throw error;
        });
      });
    });
  };
  workload.probesPending++;
  schedule(0);
}

/** Whether node `reader` finds `message` in the index pages of `thread`. */
async function indexHolds(
  workload: Workload,
  reader: number,
  thread: NodeId,
  message: NodeId,
): Promise<boolean> {
  const records = workload.services.at(reader).records;
  for (let page = 0; page < threadIndexPagesUsedMax; page++) {
    const record = await records.fetch(threadIndex(thread, page).key);
    if (record?.kind !== RecordKind.set) return false;
    const nowS = Math.floor(workload.network.clock.nowMs() / 1000);
    const entries = liveEntries(record, "threadIndex", nowS);
    if (entries.some((entry) => entry.value.message.equals(message))) return true;
  }
  return false;
}

/** A random joined node that runs no operation or probe (and is not `other`). */
function freeNode(workload: Workload, other?: number): number {
  for (let draw = 0; draw < freeNodeDrawsMax; draw++) {
    const index = workload.cluster.pickJoined();
    assert(index !== undefined, "no node has joined");
    if (index !== other && !workload.busy.has(index)) return index;
  }
  throw new Error(
    `Cannot find a free node in ${freeNodeDrawsMax} draws: ${workload.busy.size} are busy; ` +
      "use more nodes or fewer operations in flight",
  );
}

/**
 * Cumulative weights of a Zipf distribution over `count` ranks: rank r (from 1) weighs 1/r^s.
 *
 * @param count Ranks.
 * @param exponent s (0: uniform).
 * @returns The running sums, the last being the total.
 */
export function zipfCumulative(count: number, exponent: number): number[] {
  const sums: number[] = [];
  let total = 0;
  for (let rank = 1; rank <= count; rank++) {
    total += 1 / rank ** exponent;
    sums.push(total);
  }
  return sums;
}

/**
 * A rank drawn from Zipf weights (0-based: 0 is the most popular).
 *
 * @param cumulative Running sums from {@link zipfCumulative}, at least one.
 * @param prng The generator.
 * @returns The rank.
 */
export function zipfRank(cumulative: readonly number[], prng: Prng): number {
  assert(cumulative.length > 0, "no ranks to draw from");
  const target = randomFloat(prng) * cumulative[cumulative.length - 1];
  let low = 0;
  let high = cumulative.length - 1;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (cumulative[middle] > target) high = middle;
    else low = middle + 1;
  }
  return low;
}

function shuffle<T>(items: T[], prng: Prng): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(prng, i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
}

/** Words a message body is made of; a body has up to {@link bodyWordsMax} of them. */
const bodyWords = ["peer", "thread", "node", "value", "reply", "vote", "key", "index", "shard"];

/** Most words added to a body: bodies of up to about 400 bytes, as short forum posts are. */
const bodyWordsMax = 60;

function text(prng: Prng, opening: string): string {
  const words = Array.from(
    { length: randomInt(prng, bodyWordsMax + 1) },
    () => bodyWords[randomInt(prng, bodyWords.length)],
  );
  return [opening, ...words].join(" ");
}

/**
 * Fills in defaults and checks every option.
 *
 * @param options The caller's options.
 * @returns Every numeric option, resolved.
 * @throws {RangeError} Naming the first option out of range and its value.
 */
export function resolveDiscussionOptions(options: DiscussionScenarioOptions): DiscussionNumbers {
  const numbers: DiscussionNumbers = {
    ...commonNumbers(options),
    nodes: options.nodes ?? 100,
    authors: options.authors ?? 20,
    threads: options.threads ?? 10,
    posts: options.posts ?? 50,
    votes: options.votes ?? 20,
    reads: options.reads ?? 50,
    replyFraction: options.replyFraction ?? 0.5,
    zipfExponent: options.zipfExponent ?? 1,
    joinSpacingMs: options.joinSpacingMs ?? 100,
    settleMs: options.settleMs ?? 60_000,
    operationsInflightMax: options.operationsInflightMax ?? 8,
  };
  const problem = (name: keyof DiscussionNumbers, expected: string) =>
    new RangeError(
      `Cannot run the discussion scenario: ${name} is ${numbers[name]}, expected ${expected}`,
    );
  const integers: [keyof DiscussionNumbers, number][] = [
    ["nodes", 2],
    ["authors", 1],
    ["threads", 1],
    ["posts", 0],
    ["votes", 0],
    ["reads", 0],
    ["joinSpacingMs", 0],
    ["settleMs", 0],
    ["operationsInflightMax", 1],
    ["eventsMax", 1],
  ];
  if (!Number.isSafeInteger(numbers.simSeed)) throw problem("simSeed", "an integer");
  for (const [name, minimum] of integers) {
    if (!Number.isSafeInteger(numbers[name]) || numbers[name] < minimum) {
      throw problem(name, `an integer ≥ ${minimum}`);
    }
  }
  if (!(numbers.replyFraction >= 0 && numbers.replyFraction <= 1)) {
    throw problem("replyFraction", "0..1");
  }
  if (!(numbers.zipfExponent >= 0 && numbers.zipfExponent <= 10)) {
    throw problem("zipfExponent", "0..10");
  }
  return numbers;
}
