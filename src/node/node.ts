/**
 * A running Rhizome node: the DHT core on the LMDB record store, speaking through the secure
 * channel over UDP, driven by wall time, with the local control API. This is the one place where
 * the sans-I/O core meets real sockets, timers and files:
 *
 * - each datagram goes UDP → {@link SecureChannel.receive} (authenticated, decrypted) →
 *   {@link DhtNode.receive} with the peer's proven node ID; the DHT's sends go back through the
 *   channel;
 * - one timer wakes the core at `min(dht.nextWakeupMs(), channel.nextWakeupMs())`;
 * - a {@link ReceiveProbe} tells the DHT's timeouts and the channel's INIT resends when our own
 *   receive queue has been handled, so a reply waiting in our socket is not taken for lost;
 * - the store's expiry sweep, the routing-table save and the resource check run on their own
 *   periods;
 * - `stop()` fails what is in flight, saves the routing table and closes socket, store and lock
 *   within {@link stopTimeoutMs}.
 *
 * @module
 */

import { formatContactUri, makeContact, parseContactUri } from "../core/contact_uri.ts";
import type { Clock } from "../core/clock.ts";
import type { Config, NodeType } from "../core/config_schema.ts";
import { parseHostPort } from "../core/config_schema.ts";
import { type Acknowledgements, IdentityError, RhizomeError } from "../core/errors.ts";
import type { Identity } from "../core/identity.ts";
import { getLog, type Log } from "../core/log.ts";
import { NodeId } from "../core/node_id.ts";
import { SystemClock } from "../core/system_clock.ts";
import { recordValueRules } from "../content/dht_rules.ts";
import {
  checkContent,
  seedEntryLifetimeS,
  seedsIndex,
  signedEntrySet,
} from "../content/key_schema.ts";
import { decodeRecord, encodeRecord, recordKey, RecordKind } from "../content/records.ts";
import { acknowledgedPut, DhtRecordNetwork } from "../services/discussion/dht_record_network.ts";
import { Publisher } from "../services/discussion/publisher.ts";
import { Reader } from "../services/discussion/reader.ts";
import type {
  NewThreadRequest,
  PostRequest,
  ProfileRequest,
  ProfileView,
  PublishReport,
  ThreadList,
  ThreadListRequest,
  ThreadShowRequest,
  ThreadView,
  VoteRequest,
} from "../services/discussion/reports.ts";
import { DhtNode } from "../dht/node.ts";
import type { Contact } from "../dht/types.ts";
import type { Address } from "../net/address.ts";
import { type HostResolver, resolveHostName } from "../net/host_names.ts";
import { ReceiveGuard } from "../net/receive_guard.ts";
import { ReceivePriority } from "../net/receive_queue.ts";
import { SecureChannel } from "../net/secure_channel.ts";
import { StreamClient, StreamListener, type StreamPeer } from "../net/stream_transport.ts";
import { canonicalUdpAddress, UdpTransport } from "../net/udp_transport.ts";
import type { RecordStore } from "../store/record_store.ts";
import { AuthorKeys } from "./author_keys.ts";
import { cryptoRandomBytes, CryptoRng } from "./crypto_rng.ts";
import { acquireDataDirLock, type DataDirLock } from "./data_dir_lock.ts";
import type { DataDir } from "./data_dir.ts";
import { openDataDirStore } from "./data_dir_store.ts";
import { keepDiskReserve, releaseDiskReserveWhenFull } from "./disk_reserve.ts";
import { bootstrapAddresses, type BootstrapContact } from "./bootstrap_addresses.ts";
import { createIdentity, readIdentity } from "./identity_file.ts";
import { chooseNodeType, type NodeTypeChoice, shouldReclassify } from "./node_type.ts";
import { readPeerFile, writePeerFile } from "./peer_file.ts";
import { rejoinCheckIntervalMs, RejoinPolicy, rememberedContactsMax } from "./membership.ts";
import { importSnapshotInto, type ImportSummary } from "./snapshot_import.ts";
import { describeResources, measureResources } from "./resources.ts";
import { probeAddress, ReceiveProbe } from "./receive_probe.ts";
import { join } from "node:path";

/**
 * Longest a clean shutdown may take. In-flight requests are failed at once, so the time goes to
 * the last writes: the routing table file and LMDB's final commit.
 */
export const stopTimeoutMs = 5_000;

/**
 * Longest the core sleeps between wake-ups even when nothing is due, so a clock step (suspend,
 * NTP) is noticed within a minute.
 */
const wakeupIntervalMaxMs = 60_000;

/**
 * Ports tried when the system picks one (`node.listen` port 0) and the TCP port of the UDP port it
 * picked is taken. Each try fails only if another process holds that exact TCP port, so eight in
 * a row means something else is wrong; the last error is reported then.
 */
const portAttemptsMax = 8;

/**
 * How often a seed renews its entry in the seeds index: four times in the entry's day, so a few
 * failed renewals never let it lapse.
 */
const seedAnnounceIntervalMs = 6 * 3600_000;

/** How often the routing table is saved to `peers.json`, besides at stop. */
const peerSaveIntervalMs = 5 * 60_000;

/** Saved contacts asked at start (the nearest ones); more would flood the first second. */
const savedContactsBootstrapMax = 16;

/** Bootstrap retries back off from 1 s, doubling, to this. A node keeps trying while it runs. */
const bootstrapRetryMaxMs = 60_000;

/** How often an `auto` node measures its resources again. */
const reclassifyIntervalMs = 10 * 60_000;

/** The file in the data dir holding the routing table. */
const PEER_FILE = "peers.json";

/** What {@link RhizomeNode.status} reports, and `GET /v1/status` answers (plain JSON). */
export interface NodeStatus {
  /** The node ID in hex. */
  node_id: string;
  /** The contact URI. */
  contact: string;
  /** The node type it runs as. */
  node_type: string;
  /** Seconds since start. */
  uptime_s: number;
  /** Contacts in the routing table. */
  contacts: number;
  /** Records held. */
  stored_records: number;
  /** Counters and details. */
  [field: string]: unknown;
}

/** What a node is started with. */
export interface NodeOptions {
  /** Its data directory (created with mode 0700 when missing). */
  dataDir: DataDir;
  /** The validated configuration (flags already applied). */
  config: Config;
  /** A type forced by `--seed|--full|--light|--mobile`. */
  flagType?: NodeType;
  /** Where to log; the `node` category when absent. */
  log?: Log;
  /** Time; the system clock when absent. */
  clock?: Clock;
  /** How bootstrap host names become IP addresses; the operating system's resolver when absent. */
  resolveHost?: HostResolver;
}

/** A running node. */
export class RhizomeNode {
  readonly #options: NodeOptions;
  readonly #log: Log;
  readonly #clock: Clock;
  readonly #startedMs: number;
  readonly #identity: Identity;
  readonly #lock: DataDirLock;
  readonly #store: RecordStore;
  readonly #udp: UdpTransport;
  readonly #streams: StreamListener;
  readonly #channel: SecureChannel;
  readonly #guard: ReceiveGuard;
  readonly #rejoin: RejoinPolicy;
  /** Set once the first join is done (or there was nobody to join): rejoins may start then. */
  #joined = false;
  /** Tells the RPC layer and the channel when our own receive queue has been handled. */
  readonly #probe: ReceiveProbe;
  readonly #dht: DhtNode;
  readonly #network: DhtRecordNetwork;
  readonly #publisher: Publisher;
  /** The sequence of this node's last entry in the seeds index. */
  #seedSeq = 0;
  readonly #reader: Reader;
  readonly #contact: string;
  #choice: NodeTypeChoice;
  #wakeTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeAtMs = Infinity;
  readonly #intervals: ReturnType<typeof setInterval>[] = [];
  #bootstrapTimer: ReturnType<typeof setTimeout> | undefined;
  /** Each bootstrap contact's problem at the last join attempt: a warning only when it changes. */
  readonly #bootstrapProblems = new Map<string, string>();
  #stopping: Promise<void> | undefined;
  #resolveStopped!: () => void;
  /** Resolves once the node has stopped, whoever stopped it. */
  readonly stopped: Promise<void> = new Promise((resolve) => this.#resolveStopped = resolve);

  private constructor(
    options: NodeOptions,
    parts: {
      log: Log;
      clock: Clock;
      identity: Identity;
      lock: DataDirLock;
      store: RecordStore;
      udp: UdpTransport;
      streams: StreamListener;
      choice: NodeTypeChoice;
      advertised: Address;
      contact: string;
    },
  ) {
    this.#options = options;
    this.#log = parts.log;
    this.#clock = parts.clock;
    this.#startedMs = parts.clock.nowMs();
    this.#identity = parts.identity;
    this.#lock = parts.lock;
    this.#store = parts.store;
    this.#udp = parts.udp;
    this.#streams = parts.streams;
    this.#choice = parts.choice;
    this.#contact = parts.contact;
    this.#guard = new ReceiveGuard({
      clock: parts.clock,
      localRangesExempt: options.config.dht.local_ranges_exempt,
      log: getLog("guard"),
    });
    this.#rejoin = new RejoinPolicy(parts.clock);
    this.#probe = new ReceiveProbe(
      (bytes) => parts.udp.send(probeAddress(parts.udp.address), bytes),
      () => parts.clock.nowMs(),
      cryptoRandomBytes,
    );
    const localQueueClearedMs = () => this.#probe.clearedMs();
    this.#channel = new SecureChannel({
      identity: parts.identity.keyPair,
      clock: parts.clock,
      transport: parts.udp,
      randomBytes: cryptoRandomBytes,
      guard: this.#guard,
      localQueueClearedMs,
    });
    const channel = this.#channel;
    this.#dht = new DhtNode({
      nodeId: parts.identity.nodeId,
      address: parts.advertised,
      clock: parts.clock,
      transport: { send: (to, bytes) => void channel.send(to, undefined, bytes) },
      store: parts.store,
      // Rhizome's records: keys, signatures and content rules checked on every value received.
      values: recordValueRules(parts.clock),
      rng: new CryptoRng(),
      settings: { dht: options.config.dht, profile: options.config.profiles[parts.choice.type] },
      log: getLog("dht"),
      localQueueClearedMs,
      // Large values go over TCP to the peer's stream listener, on the port of its UDP address.
      streams: {
        request: (to, expectedId, message, done) => {
          StreamClient.request(to, expectedId, parts.identity.keyPair, message)
            .then((answer) => done(answer.response), () => done(undefined))
            .catch((error) => this.#log.error("stream answer failed: {error}", { error }))
            .finally(() => this.#schedule());
        },
      },
    });
    const network = new DhtRecordNetwork({
      dht: this.#dht,
      wake: () => this.#schedule(),
      peers: () => this.#dht.routingTableSize(),
      startTimer: (delayMs, fire) => {
        const timer = setTimeout(fire, delayMs);
        return () => clearTimeout(timer);
      },
      held: { store: parts.store, clock: parts.clock, log: getLog("reads") },
    });
    this.#network = network;
    const authors = new AuthorKeys(options.dataDir.authorsPath);
    this.#publisher = new Publisher({
      network,
      clock: parts.clock,
      authors: (name) => authors.load(name),
    });
    this.#reader = new Reader({ network, clock: parts.clock });
  }

  /**
   * Starts a node: lock the data dir, load or create the identity, choose the type, open the
   * store, bind UDP, start the control API, then join the network in the background.
   *
   * @param options Data dir, configuration, forced type.
   * @returns The running node.
   * @throws {RhizomeError} One line saying what could not start (data dir in use, port in use,
   *   store unusable, identity damaged); whatever was opened is closed again.
   */
  static async start(options: NodeOptions): Promise<RhizomeNode> {
    const log = options.log ?? getLog("node");
    const clock = options.clock ?? new SystemClock();
    const { dataDir, config } = options;
    await dataDir.create();
    await releaseDiskReserveWhenFull(dataDir.path, log);
    const lock = await acquireDataDirLock(dataDir.path, { log });
    const opened: { close(): Promise<void> }[] = [];
    try {
      const identity = await loadOrCreateIdentity(dataDir, log);
      const resources = await measureResources(dataDir.path);
      for (const problem of resources.problems) log.warning("resources: {problem}", { problem });
      const choice = chooseNodeType(config.node.type, options.flagType, resources, config.profiles);
      log.info("node type {type} ({reason}); {resources}", {
        type: choice.type,
        reason: choice.reason,
        resources: describeResources(resources),
      });
      const profile = config.profiles[choice.type];
      const store = openDataDirStore(dataDir, {
        clock,
        classes: config.store,
        quota: { bytesMax: profile.disk_bytes_max, recordsMax: profile.records_max },
      });
      opened.push(store);
      await keepDiskReserve(dataDir.path, log);
      let receive = (_from: Address, _bytes: Uint8Array) => {};
      let classify = (_from: Address, _bytes: Uint8Array): ReceivePriority | undefined => undefined;
      const listen = parseHostPort(config.node.listen)!;
      let answerStream = (_peer: StreamPeer, _request: Uint8Array) =>
        Promise.reject<Uint8Array>(new Error("the node is starting"));
      const { udp, streams } = await bindPorts(
        listen,
        identity,
        (from, bytes) => receive(from, bytes),
        (from, bytes) => classify(from, bytes),
        (peer, request) => answerStream(peer, request),
      );
      opened.push(udp, streams);
      const advertised = advertisedHostPort(config, udp.address);
      const contact = formatContactUri(
        makeContact(identity.keyPair.publicKey, advertised.host, advertised.port),
      );
      const node = new RhizomeNode(options, {
        log,
        clock,
        identity,
        lock,
        store,
        udp,
        streams,
        choice,
        advertised: advertised.address,
        contact,
      });
      receive = (from, bytes) => node.#receive(from, bytes);
      classify = (from, bytes) => {
        if (node.#stopping) return undefined;
        // Our own probes queue with the replies they measure (see ReceiveProbe.owns).
        if (node.#probe.owns(bytes)) return ReceivePriority.reply;
        return node.#channel.admit(from, bytes);
      };
      answerStream = (peer, request) => node.#answerStream(peer, request);
      log.info("node {id} listening on {udp}; contact {contact}", {
        id: identity.nodeId.toHex(),
        udp: udp.address,
        contact,
      });
      node.#startTimers();
      await node.#join();
      return node;
    } catch (error) {
      for (const part of opened.reverse()) await part.close().catch(() => {});
      await lock.release();
      throw error;
    }
  }

  /** This node's ID. */
  get nodeId(): NodeId {
    return this.#identity.nodeId;
  }

  /** The contact URI others join through. */
  get contact(): string {
    return this.#contact;
  }

  /** The node type it runs as. */
  get type(): NodeType {
    return this.#choice.type;
  }

  /**
   * Stops the node cleanly: in-flight requests fail, the routing table is saved, socket, store and
   * lock are closed. Resolves within {@link stopTimeoutMs}; later calls return the same promise.
   *
   * @param reason Why, for the log.
   * @returns When stopped.
   */
  stop(reason = "asked to stop"): Promise<void> {
    this.#stopping ??= this.#shutDown(reason);
    return this.#stopping;
  }

  // --- the core's driver ---

  #receive(from: Address, datagram: Uint8Array): void {
    if (this.#stopping) return;
    if (this.#probe.take(datagram)) return this.#schedule();
    // The transport's classifier ran SecureChannel.admit as the datagram was read.
    const received = this.#channel.receiveAdmitted(from, datagram);
    if (received) this.#dht.receive(from, received.plaintext, received.peer);
    this.#schedule();
  }

  /** A request that came by stream: the DHT answers it, or the connection is closed. */
  #answerStream(peer: StreamPeer, request: Uint8Array): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      this.#dht.answerStream(request, peer.nodeId, (answer) => {
        if (answer) resolve(answer);
        else reject(new Error("the request gets no answer"));
        this.#schedule();
      });
    });
  }

  /** (Re)arms the one timer at the core's next deadline. */
  #schedule(): void {
    if (this.#stopping) return;
    const nowMs = this.#clock.nowMs();
    const next = Math.min(
      this.#dht.nextWakeupMs(),
      this.#channel.nextWakeupMs(),
      nowMs + wakeupIntervalMaxMs,
    );
    if (this.#wakeTimer !== undefined && next >= this.#wakeAtMs) return;
    clearTimeout(this.#wakeTimer);
    this.#wakeAtMs = next;
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = undefined;
      this.#wakeAtMs = Infinity;
      this.#channel.tick();
      this.#dht.tick();
      this.#schedule();
    }, Math.max(0, next - nowMs));
  }

  #startTimers(): void {
    const { config } = this.#options;
    const every = (ms: number, task: () => Promise<void>) => {
      this.#intervals.push(setInterval(() => {
        task().catch((error) =>
          this.#log.warning("background task failed: {error}", { error: String(error) })
        );
      }, ms));
    };
    every(config.store.sweep_s * 1000, async () => {
      const removed = await this.#store.sweep();
      if (removed > 0) this.#log.debug("swept {removed} expired records", { removed });
    });
    every(peerSaveIntervalMs, () => this.#savePeers());
    if (this.#choice.source === "auto") every(reclassifyIntervalMs, () => this.#reclassify());
    every(seedAnnounceIntervalMs, () => this.#announceSeed());
    every(rejoinCheckIntervalMs, () => Promise.resolve(this.#checkMembership()));
    this.#schedule();
  }

  // --- joining ---

  async #join(): Promise<void> {
    const saved: Address[] = [];
    const savedFile = await readPeerFile(join(this.#options.dataDir.path, PEER_FILE));
    if (savedFile && "problem" in savedFile) {
      this.#log.warning("ignoring the saved routing table: {problem}", {
        problem: savedFile.problem,
      });
    } else if (savedFile) {
      const nearest = [...savedFile.contacts]
        .sort((a, b) => a.id.compareDistance(b.id, this.nodeId))
        .slice(0, savedContactsBootstrapMax);
      saved.push(...nearest.map((contact) => contact.address));
    }
    const contacts: BootstrapContact[] = [];
    for (const uri of this.#options.config.node.bootstrap) {
      const contact = parseContactUri(uri);
      if (!contact.nodeId.equals(this.nodeId)) contacts.push({ uri, ...contact });
    }
    if (saved.length === 0 && contacts.length === 0) {
      this.#joined = true;
      this.#log.info("no bootstrap contacts: starting a new network");
      this.#announceSeedInBackground();
      return;
    }
    this.#bootstrap(saved, contacts, 1000);
  }

  /**
   * One attempt to join through the saved peers and the bootstrap contacts, their host names
   * resolved anew; on failure the next attempt follows after `retryMs`, doubling up to
   * {@link bootstrapRetryMaxMs}.
   */
  #bootstrap(saved: readonly Address[], contacts: readonly BootstrapContact[], retryMs: number) {
    if (this.#stopping) return;
    const retry = (tried: number, why: string) => {
      if (this.#stopping) return;
      this.#log.warning(`${why} ({count} tried); trying again in {seconds} s`, {
        count: tried,
        seconds: retryMs / 1000,
      });
      this.#bootstrapTimer = setTimeout(
        () => this.#bootstrap(saved, contacts, Math.min(retryMs * 2, bootstrapRetryMaxMs)),
        retryMs,
      );
    };
    const ipv4Only = !this.#udp.address.startsWith("[");
    const resolve = this.#options.resolveHost ?? resolveHostName;
    bootstrapAddresses(contacts, resolve, ipv4Only).then((found) => {
      if (this.#stopping) return;
      this.#reportBootstrapProblems(found.problems);
      const addresses = [...new Set([...saved, ...found.addresses])];
      if (addresses.length === 0) {
        retry(contacts.length, "no bootstrap contact has a usable address");
        return;
      }
      this.#joinThrough(addresses, retry);
    }).catch((error) => {
      this.#log.error("joining failed: {error}", { error: String(error) });
      retry(contacts.length, "joining failed");
    });
  }

  /** Logs each contact's problem as a warning when it is new or changed, else at debug level. */
  #reportBootstrapProblems(problems: readonly { uri: string; problem: string }[]): void {
    const now = new Map(problems.map(({ uri, problem }) => [uri, problem]));
    for (const [uri, problem] of now) {
      const level = this.#bootstrapProblems.get(uri) === problem ? "debug" : "warning";
      this.#log[level]("skipping bootstrap contact {uri}: {problem}", { uri, problem });
    }
    this.#bootstrapProblems.clear();
    for (const [uri, problem] of now) this.#bootstrapProblems.set(uri, problem);
  }

  #joinThrough(addresses: readonly Address[], retry: (tried: number, why: string) => void) {
    this.#dht.bootstrap(addresses, (result) => {
      if (this.#stopping) return;
      if (result.ok) {
        this.#joined = true;
        // The count is taken before the last replies are filed: `status` has the settled one.
        this.#log.info("joined the network through {seeds} bootstrap contacts", {
          seeds: addresses.length,
        });
        // Saved at once, so a node killed before its first periodic save still rejoins alone.
        this.#savePeers().catch((error) =>
          this.#log.warning("cannot save the routing table: {error}", { error: String(error) })
        );
        this.#announceSeedInBackground();
        return;
      }
      retry(addresses.length, "no bootstrap contact answered");
    });
    this.#schedule();
  }

  // --- upkeep ---

  /**
   * Rejoins when the routing table has emptied or nobody answers (src/node/membership.ts):
   * through the contacts it held last, the saved peers and the bootstrap contacts, with backoff.
   */
  #checkMembership(): void {
    if (this.#stopping || !this.#joined) return;
    const nearest = this.#dht.closestContacts(this.nodeId, rememberedContactsMax)
      .map((contact) => contact.address);
    if (!this.#rejoin.check(nearest, this.#dht.stats().rpc)) return;
    this.#rejoinThrough().then((joined) => this.#rejoin.finished(joined), (error) => {
      this.#log.warning("rejoining failed: {error}", { error: String(error) });
      this.#rejoin.finished(false);
    });
  }

  async #rejoinThrough(): Promise<boolean> {
    const addresses = new Set(this.#rejoin.remembered);
    const savedFile = await readPeerFile(join(this.#options.dataDir.path, PEER_FILE));
    if (savedFile && !("problem" in savedFile)) {
      const nearest = [...savedFile.contacts]
        .sort((a, b) => a.id.compareDistance(b.id, this.nodeId))
        .slice(0, savedContactsBootstrapMax);
      for (const contact of nearest) addresses.add(contact.address);
    }
    const contacts: BootstrapContact[] = [];
    for (const uri of this.#options.config.node.bootstrap) {
      const contact = parseContactUri(uri);
      if (!contact.nodeId.equals(this.nodeId)) contacts.push({ uri, ...contact });
    }
    const ipv4Only = !this.#udp.address.startsWith("[");
    const found = await bootstrapAddresses(
      contacts,
      this.#options.resolveHost ?? resolveHostName,
      ipv4Only,
    );
    for (const address of found.addresses) addresses.add(address);
    if (addresses.size === 0 || this.#stopping) return false;
    this.#log.warning(
      "the routing table is empty or nobody answers; rejoining through {count} known contacts " +
        "(attempt {attempt})",
      { count: addresses.size, attempt: this.#rejoin.attempts },
    );
    const ok = await new Promise<boolean>((resolve) => {
      this.#dht.bootstrap([...addresses], (result) => resolve(result.ok));
      this.#schedule();
    });
    if (ok) this.#log.info("rejoined the network");
    return ok;
  }

  /**
   * A seed announces its contact in the global seeds index (ROADMAP §4.1), signed by its node
   * identity, so nodes and scripts find seeds through the network itself. The entry lives a day
   * (`seedEntryLifetimeS`); the seed renews it every {@link seedAnnounceIntervalMs}.
   */
  async #announceSeed(): Promise<void> {
    if (this.#choice.type !== "seed" || this.#stopping) return;
    const nowMs = this.#clock.nowMs();
    this.#seedSeq = Math.max(this.#seedSeq + 1, nowMs);
    const expiresAtS = Math.floor(nowMs / 1000) + seedEntryLifetimeS;
    const entry = signedEntrySet(this.#identity.keyPair, seedsIndex(), this.#seedSeq, expiresAtS, {
      contact: this.#contact,
    });
    const { stored } = await this.#network.publish(entry);
    this.#log.info("announced this seed in the seeds index (stored by {stored} nodes)", {
      stored,
    });
  }

  #announceSeedInBackground(): void {
    this.#announceSeed().catch((error) =>
      this.#log.warning("cannot announce this seed: {error}", { error: String(error) })
    );
  }

  async #savePeers(): Promise<void> {
    const profile = this.#options.config.profiles[this.#choice.type];
    const contacts = this.#dht.closestContacts(this.nodeId, profile.routing_contacts_max);
    if (contacts.length === 0) return;
    await writePeerFile(join(this.#options.dataDir.path, PEER_FILE), contacts, this.#clock.nowMs());
  }

  async #reclassify(): Promise<void> {
    const resources = await measureResources(this.#options.dataDir.path);
    const { config } = this.#options;
    const next = chooseNodeType("auto", undefined, resources, config.profiles).classification;
    const change = shouldReclassify(this.#choice.type, next);
    if (!change) return;
    const profile = config.profiles[change.type];
    this.#log.warning("resources changed: {reason}; now a {type} node", {
      reason: change.reason,
      type: change.type,
    });
    this.#choice = { ...this.#choice, type: change.type, reason: change.reason };
    this.#store.setQuota({ bytesMax: profile.disk_bytes_max, recordsMax: profile.records_max });
    this.#dht.setProfile(profile);
  }

  async #shutDown(reason: string): Promise<void> {
    // Begin once `stop` has set #stopping: the steps below end pending requests, whose callbacks
    // then see the node stopping and schedule nothing more (no retry after the timers are gone).
    await Promise.resolve();
    this.#log.info("stopping: {reason}", { reason });
    clearTimeout(this.#wakeTimer);
    clearTimeout(this.#bootstrapTimer);
    for (const interval of this.#intervals) clearInterval(interval);
    const steps = async () => {
      this.#dht.stop();
      await this.#savePeers().catch((error) =>
        this.#log.warning("cannot save the routing table: {error}", { error: String(error) })
      );
      await this.#streams.close();
      await this.#udp.close();
      await this.#store.close();
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) =>
      timer = setTimeout(() => resolve("late"), stopTimeoutMs)
    );
    try {
      const done = steps().then(() => "done" as const, (error) => {
        this.#log.error("shutdown step failed: {error}", { error: String(error) });
        return "failed" as const;
      });
      const outcome = await Promise.race([done, late]);
      if (outcome === "late") {
        this.#log.error("shutdown took longer than {ms} ms; stopping anyway", {
          ms: stopTimeoutMs,
        });
      }
    } finally {
      clearTimeout(timer);
      await this.#lock.release().catch(() => {});
      this.#log.info("stopped");
      this.#resolveStopped();
    }
  }

  // --- what the control API asks ---

  /**
   * The node's state, as plain JSON: identity, type, uptime, table size, and the counters of
   * store, DHT, secure channel, receive guard (`guard`), rejoins, UDP socket and receive-queue
   * probe (`receive_probe`).
   *
   * @returns The report.
   */
  status(): NodeStatus {
    const store = this.#store.stats();
    return json({
      node_id: this.nodeId.toHex(),
      contact: this.#contact,
      node_type: this.#choice.type,
      node_type_reason: this.#choice.reason,
      uptime_s: Math.floor((this.#clock.nowMs() - this.#startedMs) / 1000),
      contacts: this.#dht.routingTableSize(),
      stored_records: store.values,
      listen: this.#udp.address,
      store,
      dht: this.#dht.stats(),
      channel: this.#channel.stats(),
      guard: this.#guard.stats(),
      rejoins: this.#rejoin.attempts,
      receive_probe: this.#probe.stats(),
      udp: this.#udp.stats(),
      stream: this.#streams.stats(),
    }) as NodeStatus;
  }

  /**
   * The routing table's contacts, nearest first.
   *
   * @returns ID and address of each.
   */
  peers(): { node_id: string; address: string }[] {
    const contacts: Contact[] = this.#dht.closestContacts(this.nodeId, 100_000);
    return contacts.map((contact) => ({ node_id: contact.id.toHex(), address: contact.address }));
  }

  /**
   * Publishes a value as an immutable record.
   *
   * @param value The content.
   * @param ttlS The copies' lifetime (the DHT's default when absent).
   * @returns The record's key and its acknowledgements, once the write quorum is reached.
   * @throws {RecordError} When the record would exceed `recordBytesMax`.
   * @throws {RhizomeError} As `acknowledgedPut`: `STORE_FULL`, `NOT_REPLICATED`, `NOT_STORED`.
   */
  async put(value: Uint8Array, ttlS?: number): Promise<{ key: string } & Acknowledgements> {
    const immutable = { kind: RecordKind.immutable, payload: value } as const;
    // encodeRecord refuses a record over recordBytesMax; checkContent a payload that looks like a
    // document but does not verify (both RECORD_INVALID, one line).
    const record = encodeRecord(immutable);
    checkContent(recordKey(immutable), immutable, this.#clock.nowMs());
    return await new Promise((resolve, reject) => {
      this.#dht.put(record, (result) => {
        try {
          resolve({ key: result.key.toHex(), ...acknowledgedPut(result) });
        } catch (error) {
          reject(error);
        }
      }, ttlS);
      this.#schedule();
    });
  }

  /**
   * Finds a value: the payload of an immutable record, or the bytes of any other value.
   *
   * @param keyHex The key, 40 hex digits.
   * @returns The value, or `undefined` when the network does not hold it.
   */
  async get(keyHex: string): Promise<Uint8Array | undefined> {
    const key = NodeId.fromHex(keyHex);
    return await new Promise((resolve) => {
      this.#dht.get(key, (result) => {
        if (!result.value) return resolve(undefined);
        try {
          const record = decodeRecord(key, result.value);
          resolve(record.kind === RecordKind.immutable ? record.payload : result.value);
        } catch {
          // Not a record (the DHT checked the content key only): a raw value.
          resolve(result.value);
        }
      });
      this.#schedule();
    });
  }

  // --- discussions (src/services/discussion/): the control API's routes for threads, posts, votes ---

  /**
   * Starts a thread, signed by an author key of the data dir.
   *
   * @param request Title, body, tags, author.
   * @returns What was published and where.
   */
  newThread(request: NewThreadRequest): Promise<PublishReport> {
    return this.#publisher.newThread(request);
  }

  /**
   * Posts a message in a thread, or a reply to one of its messages.
   *
   * @param request Thread, parent, body, author.
   * @returns What was published and where.
   */
  post(request: PostRequest): Promise<PublishReport> {
    return this.#publisher.post(request);
  }

  /**
   * Votes on a thread or message; a new vote by the same author replaces the old one.
   *
   * @param request Target, direction, author.
   * @returns What was published and where.
   */
  vote(request: VoteRequest): Promise<PublishReport> {
    return this.#publisher.vote(request);
  }

  /**
   * Publishes an author's profile.
   *
   * @param request The fields to change, and the author.
   * @returns What was published and where.
   */
  setProfile(request: ProfileRequest): Promise<PublishReport> {
    return this.#publisher.setProfile(request);
  }

  /**
   * Publishes a record someone signed elsewhere, checked as if it came from the network.
   *
   * @param keyHex The key it claims, 40 hex digits.
   * @param bytes The encoded record.
   * @returns What was published and where.
   */
  publishRecord(keyHex: string, bytes: Uint8Array): Promise<PublishReport> {
    return this.#publisher.publishRecord(NodeId.fromHex(keyHex), bytes);
  }

  /**
   * Lists threads, newest or most active first.
   *
   * @param request Order, page size, cursor.
   * @returns One page.
   */
  listThreads(request: ThreadListRequest): Promise<ThreadList> {
    return this.#reader.listThreads(request);
  }

  /**
   * Assembles a thread: its record, one page of messages as a reply tree, votes.
   *
   * @param request Thread, page size, cursor.
   * @returns The page, with what could not be read.
   */
  showThread(request: ThreadShowRequest): Promise<ThreadView> {
    return this.#reader.showThread(request);
  }

  /**
   * Finds an author's profile.
   *
   * @param authorHex The author's public key, 64 hex digits.
   * @returns The profile.
   */
  showProfile(authorHex: string): Promise<ProfileView> {
    return this.#reader.showProfile(authorHex);
  }

  // --- snapshots (src/node/snapshot_import.ts): the control API's import route ---

  /** The snapshot being imported, while one is: a node imports one at a time. */
  #importing: string | undefined;

  /**
   * Imports a snapshot file into this node's own open store while it keeps running. The file is
   * never trusted: it is verified whole first (a corrupt snapshot imports nothing), then every
   * record is stored through the store's own checks with its class and remaining lifetime;
   * expired records are skipped, a newer version held is kept, and importing the same file
   * twice changes nothing. The imported records are then held like any others: the DHT's
   * periodic replication offers them to the k nodes closest to each key (republishing those the
   * snapshot marks as published), and expiry removes them in their time.
   *
   * @param path The snapshot file, as this process sees it (the control API sends an absolute
   *   path).
   * @returns Counts of what happened to the records.
   * @throws {RhizomeError} `UNAVAILABLE` when another import is running on this node or the
   *   node is stopping; `SNAPSHOT_INVALID` (nothing imported); `STORE_UNUSABLE` when the store
   *   fails or closes midway (what was stored before stays).
   */
  async importSnapshot(path: string): Promise<ImportSummary> {
    if (this.#stopping) {
      throw new RhizomeError("UNAVAILABLE", `Cannot import ${path}: the node is stopping`);
    }
    if (this.#importing !== undefined) {
      throw new RhizomeError(
        "UNAVAILABLE",
        `Cannot import ${path}: this node is importing ${this.#importing}; one import at a time`,
      );
    }
    this.#importing = path;
    try {
      this.#log.info("importing snapshot {path}", { path });
      const summary = await importSnapshotInto(this.#store, path, this.#clock);
      this.#log.info(
        "imported snapshot {path}: {imported} imported, {unchanged} unchanged, {expired} " +
          "expired, {keptNewer} kept newer, {refusedFull} refused (store full)",
        { ...summary },
      );
      return summary;
    } finally {
      this.#importing = undefined;
    }
  }
}

/**
 * Binds UDP and the stream listener on one port number. With port 0 the system picks a free UDP
 * port, whose TCP twin may be taken (by any process's connection): then it picks again, up to
 * {@link portAttemptsMax} times.
 */
async function bindPorts(
  listen: { host: string; port: number },
  identity: Identity,
  receive: (from: Address, bytes: Uint8Array) => void,
  classify: (from: Address, bytes: Uint8Array) => ReceivePriority | undefined,
  answer: (peer: StreamPeer, request: Uint8Array) => Promise<Uint8Array>,
): Promise<{ udp: UdpTransport; streams: StreamListener }> {
  for (let attempt = 1;; attempt++) {
    const udp = await UdpTransport.bind(listen, receive, { log: getLog("udp"), classify });
    const port = Number(udp.address.slice(udp.address.lastIndexOf(":") + 1));
    try {
      const streams = StreamListener.listen({ host: listen.host, port }, identity.keyPair, answer, {
        log: getLog("stream"),
      });
      return { udp, streams };
    } catch (error) {
      await udp.close();
      const taken = error instanceof RhizomeError && error.cause instanceof Deno.errors.AddrInUse;
      if (listen.port !== 0 || !taken || attempt >= portAttemptsMax) throw error;
    }
  }
}

async function loadOrCreateIdentity(dataDir: DataDir, log: Log): Promise<Identity> {
  try {
    const { identity, exposed } = await readIdentity(dataDir.identityPath);
    if (exposed) {
      log.warning("the identity key {path} is readable by other users; run: chmod 600 {path}", {
        path: dataDir.identityPath,
      });
    }
    return identity;
  } catch (error) {
    if (!(error instanceof IdentityError) || error.code !== "IDENTITY_MISSING") throw error;
    const { identity } = await createIdentity(dataDir.identityPath, {
      created: new Date().toISOString(),
    });
    log.info("created a new identity: node {id}", { id: identity.nodeId.toHex() });
    return identity;
  }
}

/** The address others reach this node at, with the real port when the config asked for 0. */
function advertisedHostPort(
  config: Config,
  bound: Address,
): { host: string; port: number; address: Address } {
  const boundPort = Number(bound.slice(bound.lastIndexOf(":") + 1));
  const chosen = parseHostPort(config.node.advertise || config.node.listen)!;
  let host = chosen.host;
  if (host === "0.0.0.0") host = "127.0.0.1";
  if (host === "::") host = "::1";
  const port = config.node.advertise ? chosen.port : boundPort;
  const address = addressOf(host, port);
  if (address === undefined) {
    throw new RhizomeError(
      "UNAVAILABLE",
      `Cannot advertise ${host}:${port}: node.advertise must be an IP address for now`,
    );
  }
  return { host, port, address };
}

/**
 * Canonical address text for an IP host (`localhost` taken as 127.0.0.1), the same form the UDP
 * transport gives senders, so a contact and its datagrams agree; else `undefined`.
 */
function addressOf(host: string, port: number): Address | undefined {
  return canonicalUdpAddress(host === "localhost" ? "127.0.0.1" : host, port);
}

/** A plain JSON copy (drops class instances and `undefined`s; NodeIds become hex). */
function json(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_key, field) => {
    if (field instanceof NodeId) return field.toHex();
    return field;
  }));
}
