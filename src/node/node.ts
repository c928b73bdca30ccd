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
 * Its identity and store are injectable, and the data dir optional, so another program can run a
 * node in-process (src/node/mod.ts): without a data dir nothing touches the disk, no routing table
 * is saved and there are no author keys.
 *
 * @module
 */

import { formatContactUri, makeContact, parseContactUri } from "../core/contact_uri.ts";
import type { Clock } from "../core/clock.ts";
import type { Config, NodeProfile, NodeType } from "../core/config_schema.ts";
import { parseHostPort } from "../core/config_schema.ts";
import {
  type Acknowledgements,
  ContentError,
  IdentityError,
  InvalidInputError,
  RhizomeError,
} from "../core/errors.ts";
import type { Identity } from "../core/identity.ts";
import { getLog, type Log } from "../core/log.ts";
import { NodeId } from "../core/node_id.ts";
import { SystemClock } from "../core/system_clock.ts";
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
  ProfileView,
  PublishReport,
  ThreadList,
  ThreadView,
} from "../services/discussion/reports.ts";
import type {
  NewThreadRequest,
  PostRequest,
  ProfileRequest,
  ThreadListRequest,
  ThreadShowRequest,
  VoteRequest,
} from "../services/discussion/requests.ts";
import { DhtNode } from "../dht/node.ts";
import type { BootstrapResult, Contact, GetOptions } from "../dht/types.ts";
import { PeerAddress } from "../net/address.ts";
import { type HostResolver, resolveHostName } from "../net/host_names.ts";
import { ReceiveGuard } from "../net/receive_guard.ts";
import { ReceivePriority } from "../net/receive_queue.ts";
import { SecureChannel } from "../net/secure_channel.ts";
import {
  StreamClient,
  StreamListener,
  type StreamPeer,
  StreamRequestRefused,
} from "../net/stream_transport.ts";
import { UdpTransport } from "../net/udp_transport.ts";
import { MemoryValueStore } from "../store/memory_value_store.ts";
import { RecordStore } from "../store/record_store.ts";
import type { ValueStore } from "../store/value_store.ts";
import { recordRules } from "../content/record_rules.ts";
import { AuthorKeys } from "./data_dir/author_keys.ts";
import { cryptoRandomBytes, CryptoRng } from "./crypto_rng.ts";
import { acquireDataDirLock, type DataDirLock } from "./data_dir/lock.ts";
import type { DataDir } from "./data_dir/paths.ts";
import { openDataDirStore } from "./data_dir/store.ts";
import { keepDiskReserve, releaseDiskReserveWhenFull } from "./data_dir/disk_reserve.ts";
import {
  bootstrapAddresses,
  type BootstrapContact,
  type BootstrapSeed,
} from "./bootstrap_addresses.ts";
import { createIdentity, readIdentity } from "./data_dir/identity_file.ts";
import { chooseNodeType, type NodeTypeChoice, shouldReclassify } from "./node_type.ts";
import { readPeerFile, writePeerFile } from "./data_dir/peer_file.ts";
import { rejoinCheckIntervalMs, RejoinPolicy, rememberedContactsMax } from "./membership.ts";
import { importSnapshotInto, type ImportSummary } from "./snapshot_import.ts";
import { NodeSync, type SyncCommand, type SyncOutcome, type SyncState } from "./node_sync.ts";
import { isSyncMessage } from "../services/sync/mod.ts";
import { describeResources, measureResources } from "./resources.ts";
import { probeAddress, ReceiveProbe } from "./receive_probe.ts";
import { EventLoopLagProbe } from "./event_loop_lag.ts";
import type { NodeMetrics } from "./metrics_snapshot.ts";
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

/**
 * Where a node keeps records: the DHT's {@link ValueStore}, plus what the node drives itself. The
 * LMDB {@link RecordStore} and the {@link MemoryValueStore} are the two there are.
 */
export interface NodeStore extends ValueStore {
  /**
   * Takes the budgets of another node type.
   *
   * @param quota Bytes and records it may hold.
   */
  setQuota(quota: { bytesMax: number; recordsMax: number }): void;
  /**
   * Removes expired records.
   *
   * @returns How many were removed.
   */
  sweep(): Promise<number>;
  /**
   * Closes the store once its writes are done.
   *
   * @returns When closed.
   */
  close(): Promise<void>;
}

/** What a node is started with. */
export interface NodeOptions {
  /**
   * Its data directory (created with mode 0700 when missing): lock, identity file, LMDB store,
   * saved routing table, author keys. Absent: the node keeps nothing on disk; `identity` must be
   * given and the node type named (by `flagType` or `node.type`), and the store is `store`, or
   * records in memory within the type's quota.
   */
  dataDir?: DataDir;
  /** The validated configuration (flags already applied). */
  config: Config;
  /** The node's identity, instead of the data dir's identity file (which is then not read). */
  identity?: Identity;
  /**
   * Its record store, instead of the data dir's LMDB store: the caller opened it and closes it
   * after the node stopped. Its quota is set to the node type's.
   */
  store?: NodeStore;
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
  /** Held while the node runs on a data dir. */
  readonly #lock: DataDirLock | undefined;
  readonly #store: NodeStore;
  /** Whether the node opened its store (so closes it at stop), or the caller injected it. */
  readonly #ownsStore: boolean;
  readonly #udp: UdpTransport;
  readonly #streams: StreamListener;
  readonly #channel: SecureChannel;
  readonly #guard: ReceiveGuard;
  readonly #rejoin: RejoinPolicy;
  /** The configured bootstrap contacts, parsed once (the config checked them), ours left out. */
  readonly #bootstrapContacts: readonly BootstrapContact[];
  /** Set once the first join is done (or there was nobody to join): rejoins may start then. */
  #joined = false;
  /** Tells the RPC layer and the channel when our own receive queue has been handled. */
  readonly #probe: ReceiveProbe;
  /** Measures how late the event loop runs timers, for the metrics. */
  readonly #lagProbe = new EventLoopLagProbe();
  readonly #dht: DhtNode;
  /** Answers peers' sync requests and runs `rhizome sync`. */
  readonly #sync: NodeSync;
  readonly #network: DhtRecordNetwork;
  readonly #publisher: Publisher;
  /** The sequence of this node's last entry in the seeds index. */
  #seedSeq = 0;
  readonly #reader: Reader;
  readonly #contact: string;
  #choice: Omit<NodeTypeChoice, "classification">;
  #wakeTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeAtMs = Infinity;
  readonly #intervals: ReturnType<typeof setInterval>[] = [];
  #bootstrapTimer: ReturnType<typeof setTimeout> | undefined;
  #resolveJoined!: () => void;
  #rejectJoined!: (error: Error) => void;
  /**
   * Resolves once the node joined the network for the first time (at once when it has nobody to
   * join through); rejects with `UNAVAILABLE` when it stops first. A node that cannot reach its
   * bootstrap contacts keeps trying while it runs, so this may stay pending: race it with a
   * deadline of your own.
   */
  readonly joined: Promise<void> = new Promise((resolve, reject) => {
    this.#resolveJoined = resolve;
    this.#rejectJoined = reject;
  });
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
      lock: DataDirLock | undefined;
      store: NodeStore;
      ownsStore: boolean;
      udp: UdpTransport;
      streams: StreamListener;
      choice: Omit<NodeTypeChoice, "classification">;
      advertised: PeerAddress;
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
    this.#ownsStore = parts.ownsStore;
    // Nobody may be waiting for the join when the node stops: that rejection is no crash.
    this.joined.catch(() => {});
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
    this.#bootstrapContacts = options.config.node.bootstrap
      .map((uri) => ({ uri, ...parseContactUri(uri) }))
      .filter((contact) => !contact.nodeId.equals(parts.identity.nodeId));
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
      // The handshake proved another node at a contact's address: the DHT drops the contact.
      onWrongIdentity: (to, expected, actual) => this.#dht.identityRefused(to, expected, actual),
    });
    const channel = this.#channel;
    this.#dht = new DhtNode({
      nodeId: parts.identity.nodeId,
      address: parts.advertised,
      clock: parts.clock,
      transport: { send: (to, bytes, expectedId) => void channel.send(to, expectedId, bytes) },
      // Opened with Rhizome's record rules: the store verifies every write (a STORE once, a
      // publish once), and the DHT checks its gets' answers by the same rules.
      store: wakingStore(parts.store, () => this.#schedule()),
      rng: new CryptoRng(),
      settings: {
        dht: options.config.dht,
        profile: options.config.profiles[parts.choice.type],
        store: options.config.store,
      },
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
    this.#sync = new NodeSync({
      store: parts.store,
      clock: parts.clock,
      keyPair: parts.identity.keyPair,
      log: getLog("sync"),
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
    const authors = options.dataDir && new AuthorKeys(options.dataDir.authorsPath);
    this.#publisher = new Publisher({
      network,
      clock: parts.clock,
      authors: (name) =>
        authors?.load(name) ??
          Promise.reject(
            new ContentError(
              "AUTHOR_MISSING",
              "Cannot sign: this node runs without a data dir, so it holds no author keys",
            ),
          ),
    });
    this.#reader = new Reader({ network, clock: parts.clock });
  }

  /**
   * Starts a node: lock the data dir, load or create the identity, choose the type, open the
   * store, bind UDP, then join the network in the background ({@link joined} says when it has).
   * Without a data dir the identity and type come from the options and the store from `store` or
   * memory.
   *
   * @param options Data dir, configuration, forced type, injected identity and store.
   * @returns The running node.
   * @throws {RhizomeError} One line saying what could not start (data dir in use, port in use,
   *   store unusable, identity damaged; `INVALID_INPUT` for a node without a data dir that lacks
   *   an identity or a named type); whatever it opened is closed again.
   */
  static async start(options: NodeOptions): Promise<RhizomeNode> {
    const log = options.log ?? getLog("node");
    const clock = options.clock ?? new SystemClock();
    const { dataDir, config } = options;
    if (!dataDir) checkDiskless(options);
    if (dataDir) {
      await dataDir.create();
      await releaseDiskReserveWhenFull(dataDir.path, log);
    }
    const lock = dataDir && await acquireDataDirLock(dataDir.path, { log });
    const opened: { close(): Promise<void> }[] = [];
    try {
      const identity = options.identity ?? await loadOrCreateIdentity(dataDir!, log);
      const choice = await chooseType(options, log);
      const profile = config.profiles[choice.type];
      let store = options.store;
      if (store) {
        store.setQuota(storeQuota(profile, store instanceof MemoryValueStore));
      } else {
        store = dataDir
          ? openDataDirStore(dataDir, {
            clock,
            classes: config.store,
            quota: storeQuota(profile, false),
          })
          : new MemoryValueStore({
            rules: recordRules,
            clock,
            classes: config.store,
            quota: storeQuota(profile, true),
          });
        opened.push(store);
      }
      if (dataDir) await keepDiskReserve(dataDir.path, log);
      let receive = (_from: PeerAddress, _bytes: Uint8Array) => {};
      let classify = (_from: PeerAddress, _bytes: Uint8Array): ReceivePriority | undefined =>
        undefined;
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
        ownsStore: options.store === undefined,
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
      await lock?.release();
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

  #receive(from: PeerAddress, datagram: Uint8Array): void {
    if (this.#stopping) return;
    if (this.#probe.take(datagram)) return this.#schedule();
    // The transport's classifier ran SecureChannel.admit as the datagram was read.
    const received = this.#channel.receiveAdmitted(from, datagram);
    if (received) this.#dht.receive(from, received.plaintext, received.peer);
    this.#schedule();
  }

  /** A request that came by stream: the DHT answers it, or the connection is closed. */
  #answerStream(peer: StreamPeer, request: Uint8Array): Promise<Uint8Array> {
    // Sync messages start "RHS", the DHT's "RHZ": the sync service answers its own.
    if (isSyncMessage(request)) return Promise.resolve(this.#sync.answer(peer.nodeId, request));
    return new Promise<Uint8Array>((resolve, reject) => {
      this.#dht.answerStream(request, peer.nodeId, (answer) => {
        if (answer) resolve(answer);
        // The DHT counted why (`dht.dropped.*`): the peer's request, not this node, is at fault.
        else reject(new StreamRequestRefused("the DHT dropped it (see dht.dropped)"));
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
    this.#lagProbe.start();
    this.#schedule();
  }

  // --- joining ---

  async #join(): Promise<void> {
    const saved: Contact[] = [];
    const savedFile = await this.#readSavedPeers();
    if (savedFile && "problem" in savedFile) {
      this.#log.warning("ignoring the saved routing table: {problem}", {
        problem: savedFile.problem,
      });
    } else if (savedFile) {
      const nearest = [...savedFile.contacts]
        .sort((a, b) => a.nodeId.compareDistance(b.nodeId, this.nodeId))
        .slice(0, savedContactsBootstrapMax);
      saved.push(...nearest);
    }
    const contacts = this.#bootstrapContacts;
    if (saved.length === 0 && contacts.length === 0) {
      this.#joined = true;
      this.#resolveJoined();
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
  #bootstrap(saved: readonly Contact[], contacts: readonly BootstrapContact[], retryMs: number) {
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
    const ipv4Only = this.#udp.address.family === 4;
    const resolve = this.#options.resolveHost ?? resolveHostName;
    bootstrapAddresses(contacts, resolve, ipv4Only).then((found) => {
      if (this.#stopping) return;
      this.#reportBootstrapProblems(found.problems);
      const seeds = uniqueContacts([...saved, ...found.seeds.map((seed) => seed.contact)]);
      if (seeds.length === 0) {
        retry(contacts.length, "no bootstrap contact has a usable address");
        return;
      }
      this.#joinThrough(seeds, found.seeds, retry);
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

  #joinThrough(
    seeds: readonly Contact[],
    named: readonly BootstrapSeed[],
    retry: (tried: number, why: string) => void,
  ) {
    this.#dht.bootstrap(seeds, (result) => {
      if (this.#stopping) return;
      const refused = this.#reportWrongIdentities(result.wrongIdentity, named);
      if (result.ok) {
        this.#joined = true;
        this.#resolveJoined();
        // The count is taken before the last replies are filed: `status` has the settled one.
        this.#log.info("joined the network through {seeds} bootstrap contacts", {
          seeds: seeds.length,
        });
        // Saved at once, so a node killed before its first periodic save still rejoins alone.
        this.#savePeers().catch((error) =>
          this.#log.warning("cannot save the routing table: {error}", { error: String(error) })
        );
        this.#announceSeedInBackground();
        return;
      }
      retry(seeds.length, `no bootstrap contact answered${refused}`);
    });
    this.#schedule();
  }

  /**
   * One warning per bootstrap URI at whose address another node proved its identity: the URI's
   * key is not that node's (a wrong or stale URI, or someone else on that address).
   *
   * @returns A clause for the join failure naming them, or "" when there were none.
   */
  #reportWrongIdentities(
    wrong: BootstrapResult["wrongIdentity"],
    named: readonly BootstrapSeed[],
  ): string {
    const lines = wrong.flatMap(({ seed, answeredAs }) => {
      const uri = named.find(({ contact }) =>
        contact.nodeId.equals(seed.nodeId) && contact.address.equals(seed.address)
      )?.uri;
      if (uri === undefined) {
        // A saved or remembered peer whose address another node holds now: churn, not a mistake.
        this.#log.debug("saved peer {id} at {address} is gone: {actual} answers there", {
          id: seed.nodeId.toHex(),
          address: seed.address,
          actual: answeredAs.toHex(),
        });
        return [];
      }
      const fields = {
        uri,
        address: seed.address,
        actual: answeredAs.toHex(),
        expected: seed.nodeId.toHex(),
      };
      this.#log.warning(
        "not joining through bootstrap contact {uri}: the node at {address} is {actual}, " +
          "not {expected} as its key says",
        fields,
      );
      return [`${uri}: the node at ${seed.address} is ${fields.actual}, not ${fields.expected}`];
    });
    return lines.length === 0 ? "" : ` as the node its key names (${lines.join("; ")})`;
  }

  // --- upkeep ---

  /**
   * Rejoins when the routing table has emptied or nobody answers (src/node/membership.ts):
   * through the contacts it held last, the saved peers and the bootstrap contacts, with backoff.
   */
  #checkMembership(): void {
    if (this.#stopping || !this.#joined) return;
    const nearest = this.#dht.closestContacts(this.nodeId, rememberedContactsMax);
    if (!this.#rejoin.check(nearest, this.#dht.stats().rpc)) return;
    this.#rejoinThrough().then((joined) => this.#rejoin.finished(joined), (error) => {
      this.#log.warning("rejoining failed: {error}", { error: String(error) });
      this.#rejoin.finished(false);
    });
  }

  async #rejoinThrough(): Promise<boolean> {
    const known = [...this.#rejoin.remembered];
    const savedFile = await this.#readSavedPeers();
    if (savedFile && !("problem" in savedFile)) {
      const nearest = [...savedFile.contacts]
        .sort((a, b) => a.nodeId.compareDistance(b.nodeId, this.nodeId))
        .slice(0, savedContactsBootstrapMax);
      known.push(...nearest);
    }
    const ipv4Only = this.#udp.address.family === 4;
    const found = await bootstrapAddresses(
      this.#bootstrapContacts,
      this.#options.resolveHost ?? resolveHostName,
      ipv4Only,
    );
    const seeds = uniqueContacts([...known, ...found.seeds.map((seed) => seed.contact)]);
    if (seeds.length === 0 || this.#stopping) return false;
    this.#log.warning(
      "the routing table is empty or nobody answers; rejoining through {count} known contacts " +
        "(attempt {attempt})",
      { count: seeds.length, attempt: this.#rejoin.attempts },
    );
    const ok = await new Promise<boolean>((resolve) => {
      this.#dht.bootstrap(seeds, (result) => {
        this.#reportWrongIdentities(result.wrongIdentity, found.seeds);
        resolve(result.ok);
      });
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

  /** The routing table saved in the data dir; none without one. */
  async #readSavedPeers(): ReturnType<typeof readPeerFile> {
    const { dataDir } = this.#options;
    return dataDir ? await readPeerFile(join(dataDir.path, PEER_FILE)) : undefined;
  }

  async #savePeers(): Promise<void> {
    const { dataDir } = this.#options;
    if (!dataDir) return;
    const profile = this.#options.config.profiles[this.#choice.type];
    const contacts = this.#dht.closestContacts(this.nodeId, profile.routing_contacts_max);
    if (contacts.length === 0) return;
    await writePeerFile(join(dataDir.path, PEER_FILE), contacts, this.#clock.nowMs());
  }

  async #reclassify(): Promise<void> {
    // Only a node on a data dir runs as `auto` (checkDiskless), so there is a disk to measure.
    const resources = await measureResources(this.#options.dataDir!.path);
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
    this.#store.setQuota(storeQuota(profile, this.#store instanceof MemoryValueStore));
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
    this.#lagProbe.stop();
    const steps = async () => {
      this.#dht.stop();
      await this.#savePeers().catch((error) =>
        this.#log.warning("cannot save the routing table: {error}", { error: String(error) })
      );
      await this.#streams.close();
      await this.#udp.close();
      if (this.#ownsStore) await this.#store.close();
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
      await this.#lock?.release().catch(() => {});
      this.#rejectJoined(new RhizomeError("UNAVAILABLE", "Cannot join: the node stopped first"));
      this.#log.info("stopped");
      this.#resolveStopped();
    }
  }

  // --- what the control API asks ---
  // These methods are the control API's handlers (`ControlHandlers` in src/api/routes.ts, met
  // structurally: node/ sits below api/): the route table calls them with typed requests, so
  // `rhizome run` hands the API the node itself.

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
   * Every counter of the node at this moment, for the metrics (`GET /metrics`, `GET /v1/metrics`,
   * the dashboard, `rhizome top`): the parts' counters as they are, plus lookup durations, records
   * short of holders, event-loop lag and the process's memory.
   *
   * @returns The snapshot.
   */
  metrics(): NodeMetrics {
    const { rss, heapUsed, heapTotal, external } = Deno.memoryUsage();
    return {
      nodeId: this.nodeId.toHex(),
      nodeType: this.#choice.type,
      uptimeS: Math.max(0, (this.#clock.nowMs() - this.#startedMs) / 1000),
      peers: this.#dht.routingTableSize(),
      store: structuredClone(this.#store.stats()),
      dht: this.#dht.stats(),
      health: this.#dht.health(),
      channel: this.#channel.stats(),
      guard: this.#guard.stats(),
      udp: this.#udp.stats(),
      stream: this.#streams.stats(),
      receiveProbe: this.#probe.stats(),
      rejoins: this.#rejoin.attempts,
      eventLoop: this.#lagProbe.stats(),
      memory: { rss, heapUsed, heapTotal, external },
    };
  }

  /**
   * Syncs the store from a peer: the contact named, else the routing table's peers in turn.
   *
   * @param command The peer and what to sync.
   * @returns What moved.
   */
  sync(command: SyncCommand): Promise<SyncOutcome> {
    return this.#sync.run(
      command,
      () => this.#dht.closestContacts(this.nodeId, 100),
    );
  }

  /**
   * The sync running now, if any.
   *
   * @returns Its state.
   */
  syncState(): SyncState {
    return this.#sync.state();
  }

  /**
   * The routing table's contacts, nearest first.
   *
   * @returns ID and address of each.
   */
  peers(): { node_id: string; address: string }[] {
    const contacts: Contact[] = this.#dht.closestContacts(this.nodeId, 100_000);
    return contacts.map((contact) => ({
      node_id: contact.nodeId.toHex(),
      address: contact.address.key,
    }));
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
   * @param key The key.
   * @param options `networkOnly`: ask other nodes only, not this node's own copy.
   * @returns The value, or `undefined` when the network does not hold it.
   */
  async get(key: NodeId, options: GetOptions = {}): Promise<Uint8Array | undefined> {
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
      }, options);
      this.#schedule();
    });
  }

  /**
   * Finds the nodes closest to an ID by an iterative lookup (FIND_NODE).
   *
   * @param target Any ID.
   * @returns The closest nodes that answered, nearest first (at most k); none when this node
   *   knows no peer or none answered.
   */
  findNode(target: NodeId): Promise<Contact[]> {
    return new Promise((resolve) => {
      this.#dht.findNode(target, (result) => resolve(result.closest));
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
   * @param key The key it claims.
   * @param bytes The encoded record.
   * @returns What was published and where.
   */
  publishRecord(key: NodeId, bytes: Uint8Array): Promise<PublishReport> {
    return this.#publisher.publishRecord(key, bytes);
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
   * @param author The author's Ed25519 public key.
   * @returns The profile.
   */
  showProfile(author: Uint8Array): Promise<ProfileView> {
    return this.#reader.showProfile(author);
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
    if (!(this.#store instanceof RecordStore)) {
      throw new RhizomeError(
        "UNAVAILABLE",
        `Cannot import ${path}: this node's records are in memory; snapshots import into LMDB`,
      );
    }
    const store = this.#store;
    this.#importing = path;
    try {
      this.#log.info("importing snapshot {path}", { path });
      const summary = await importSnapshotInto(store, path, this.#clock);
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
  receive: (from: PeerAddress, bytes: Uint8Array) => void,
  classify: (from: PeerAddress, bytes: Uint8Array) => ReceivePriority | undefined,
  answer: (peer: StreamPeer, request: Uint8Array) => Promise<Uint8Array>,
): Promise<{ udp: UdpTransport; streams: StreamListener }> {
  for (let attempt = 1;; attempt++) {
    const udp = await UdpTransport.bind(listen, receive, { log: getLog("udp"), classify });
    const { port } = udp.address;
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

/**
 * A store's budgets under a node type: its disk budget, or for records held in memory its memory
 * budget (the memory store counts each record's overhead as well as its bytes).
 */
function storeQuota(
  profile: NodeProfile,
  inMemory: boolean,
): { bytesMax: number; recordsMax: number } {
  const bytesMax = inMemory ? profile.memory_bytes_max : profile.disk_bytes_max;
  return { bytesMax, recordsMax: profile.records_max };
}

/**
 * Checks what a node without a data dir needs instead: an identity, and a named type (`auto`
 * measures the data dir's disk, and there is none).
 */
function checkDiskless(options: NodeOptions): void {
  if (options.identity === undefined) {
    throw new InvalidInputError("Cannot start a node without a data dir: give it an identity");
  }
  if (options.flagType === undefined && options.config.node.type === "auto") {
    throw new InvalidInputError(
      "Cannot start a node without a data dir as node.type auto (there is no disk to measure): " +
        "name its type, seed, full, light or mobile",
    );
  }
}

/**
 * The type a node runs as: chosen from the resources measured at its data dir, or, without one,
 * the type named (see {@link checkDiskless}).
 */
async function chooseType(
  options: NodeOptions,
  log: Log,
): Promise<Omit<NodeTypeChoice, "classification">> {
  const { dataDir, config, flagType } = options;
  if (!dataDir) {
    const type = flagType ?? config.node.type as NodeType;
    const source = flagType ? "flag" : "config";
    const reason = `${type}: set by ${flagType ? "the program" : "node.type in the config"}`;
    log.info("node type {type} ({reason}); no data dir, records in {store}", {
      type,
      reason,
      store: options.store ? "the store given" : "memory",
    });
    return { type, reason, source };
  }
  const resources = await measureResources(dataDir.path);
  for (const problem of resources.problems) log.warning("resources: {problem}", { problem });
  const choice = chooseNodeType(config.node.type, flagType, resources, config.profiles);
  log.info("node type {type} ({reason}); {resources}", {
    type: choice.type,
    reason: choice.reason,
    resources: describeResources(resources),
  });
  return choice;
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
  bound: PeerAddress,
): { host: string; port: number; address: PeerAddress } {
  const boundPort = bound.port;
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
 * The canonical address of an IP host (`localhost` taken as 127.0.0.1), the same form the UDP
 * transport gives senders, so a contact and its datagrams agree; else `undefined`.
 */
function addressOf(host: string, port: number): PeerAddress | undefined {
  return PeerAddress.of(host === "localhost" ? "127.0.0.1" : host, port);
}

/** Each node ID and address once, in order. */
function uniqueContacts(contacts: readonly Contact[]): Contact[] {
  const seen = new Set<string>();
  return contacts.filter((contact) => {
    const key = `${contact.nodeId.toHex()}@${contact.address.key}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A plain JSON copy (drops class instances and `undefined`s; NodeIds become hex). */
function json(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_key, field) => {
    if (field instanceof NodeId) return field.toHex();
    return field;
  }));
}

/**
 * The store as the DHT sees it, rescheduling the core after each write's callback: a write
 * commits after the call that started it returned, and its callback may start DHT work (a
 * publish's STOREs go out once the local write is verified and durable) whose timers the next
 * wake-up must cover.
 */
function wakingStore(store: ValueStore, wake: () => void): ValueStore {
  return {
    rules: store.rules,
    get: (key) => store.get(key),
    put: (write, done) =>
      store.put(write, (error, written) => {
        try {
          done(error, written);
        } finally {
          wake();
        }
      }),
    noteRead: (key) => store.noteRead(key),
    delete: (key) => store.delete(key),
    values: () => store.values(),
    stats: () => store.stats(),
  };
}
