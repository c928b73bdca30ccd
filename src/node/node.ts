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

import { formatContactUri, makeContact } from "../core/contact_uri.ts";
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
import { messagePageMax, Reader } from "../services/discussion/reader.ts";
import {
  LocalSearch,
  NetworkSearch,
  type RankingWeights,
  type ReindexReport,
  type SearchPage,
  type SearchRequest,
} from "../services/search/mod.ts";
import { docOfRecord } from "../content/documents.ts";
import { decodeStoredRecord } from "../content/records.ts";
import { SqliteSearchIndex } from "./search_index_sqlite.ts";
import type { StoreObserver } from "../store/value_store.ts";
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
import { NodePopularity } from "./popularity.ts";
import type { KeyPopularity } from "../services/popularity/mod.ts";
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
import {
  joinThroughSources,
  NodeDiscovery,
  type SourceOutcome,
  uniqueContacts,
} from "./discovery/join_sources.ts";
import { parseContactText } from "../core/share_string.ts";
import { statusReport } from "./status_report.ts";
import { type IdMatch, KnownIds } from "./known_ids.ts";
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

/**
 * Least time between two updates of the kernel filter of banned sources (`UdpTransport.
 * blockSources`): the first ban is filtered at once, a burst of bans (a flood from many
 * addresses) rebuilds the filter at most this often instead of once per ban.
 */
const kernelFilterUpdateMinMs = 100;

/** How often the kernel filter is rebuilt without a new ban, so bans that ended leave it. */
const kernelFilterRefreshMs = 10_000;

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
  /**
   * Sets who is told of stored and removed records (the search index follows the store by it).
   * A store without it leaves the index to `rhizome search --reindex`.
   *
   * @param observer The observer.
   */
  setObserver?(observer: StoreObserver | undefined): void;
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
  /**
   * The bootstrap list in effect, parsed once (the config checked it), ours left out:
   * `node.bootstrap`, else the built-in seeds (`discovery.seeds`).
   */
  readonly #bootstrapContacts: readonly BootstrapContact[];
  /** Whether {@link #bootstrapContacts} are the built-in seeds (no `node.bootstrap` given). */
  readonly #builtInSeeds: boolean;
  /** DNS and LAN discovery, set up once the socket is bound. */
  #discovery: NodeDiscovery | undefined;
  /** The saved peers read at start, tried first by every join attempt. */
  #savedAtStart: readonly Contact[] = [];
  /** Whether a join attempt through the sources is under way, and whether to run another. */
  #discovering = false;
  #discoverAgain = false;
  /** The source the node joined through (`bootstrap`, `dns`, `lan`), once it did. */
  #joinedThrough: SourceOutcome | undefined;
  /** Each source's problem at the last attempt: a warning only when it changes. */
  readonly #sourceProblems = new Map<string, string>();
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
  /** Popularity measured here: the DHT's observer and replication policy, the rankings. */
  readonly #popularity: NodePopularity;
  /** The search index (SQLite FTS5 beside the store) and the searches over it. */
  readonly #searchIndex: SqliteSearchIndex;
  readonly #search: LocalSearch;
  readonly #networkSearch: NetworkSearch;
  /** Stops the pending write of store changes to the search index. */
  #cancelSearchFlush: () => void = () => {};
  /** Loads an author key by name (the data dir's), for signing a thread's postings. */
  readonly #authors: AuthorKeys | undefined;
  readonly #contact: string;
  #choice: Omit<NodeTypeChoice, "classification">;
  #wakeTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeAtMs = Infinity;
  readonly #intervals: ReturnType<typeof setInterval>[] = [];
  #bootstrapTimer: ReturnType<typeof setTimeout> | undefined;
  /** While set, a new ban waits for it to update the kernel filter (`#sourceBanned`). */
  #filterTimer: ReturnType<typeof setTimeout> | undefined;
  #filterPending = false;
  #filterProblem: string | undefined;
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
      searchIndex: { index: SqliteSearchIndex; created: boolean };
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
      onSourceBanned: () => this.#sourceBanned(),
    });
    this.#rejoin = new RejoinPolicy(parts.clock);
    this.#builtInSeeds = options.config.node.bootstrap.length === 0;
    this.#bootstrapContacts =
      (this.#builtInSeeds ? options.config.discovery.seeds : options.config.node.bootstrap)
        .map((uri) => ({ uri, ...parseContactText(uri) }))
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
    const popularity = new NodePopularity({
      config: options.config,
      clock: parts.clock,
      identity: parts.identity,
      store: parts.store,
      salt: new CryptoRng().nextUint32(),
      log: getLog("popularity"),
    });
    this.#popularity = popularity;
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
      // Reads served here are the popularity metrics; popularity sets replicas and lifetimes.
      observer: popularity.observer(),
      replication: popularity.service.policy(),
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
    const self = parts.identity.nodeId;
    this.#reader = new Reader({
      network,
      clock: parts.clock,
      onRead: (key) => popularity.noteLocalRead(key, self),
    });
    this.#authors = authors;
    const weights = rankingWeights(options.config);
    this.#searchIndex = parts.searchIndex.index;
    this.#search = new LocalSearch({
      index: parts.searchIndex.index,
      clock: parts.clock,
      weights,
      load: (key) => parts.store.get(key)?.value,
    });
    this.#networkSearch = new NetworkSearch({
      network,
      local: this.#search,
      clock: parts.clock,
      weights,
    });
    const search = this.#search;
    // Changes reach the index in batches: written within searchFlushDelayMs, or at once when a
    // query comes or the batch is full.
    let flushTimer: ReturnType<typeof setTimeout> | undefined;
    const flushSoon = () => {
      flushTimer ??= setTimeout(() => {
        flushTimer = undefined;
        if (this.#stopping) return;
        if (!search.flush()) {
          this.#log.warning(
            "cannot update the search index; run 'rhizome search --reindex' once the disk has room",
          );
        }
      }, searchFlushDelayMs);
    };
    this.#cancelSearchFlush = () => clearTimeout(flushTimer);
    parts.store.setObserver?.({
      stored: (key, bytes) => {
        search.noteStored(key, bytes);
        flushSoon();
      },
      removed: (key) => {
        search.noteRemoved(key);
        flushSoon();
      },
    });
    // The index takes the store's changes in batches, so a process killed mid-batch (its lock
    // found stale at this start) may have left it behind the store: rebuild it then as well.
    if (parts.searchIndex.created || parts.lock?.takenOverFromPid !== undefined) {
      this.#rebuildSearch();
    }
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
      const searchIndex = SqliteSearchIndex.open(dataDir ? dataDir.searchPath : ":memory:");
      opened.push({ close: () => Promise.resolve(searchIndex.index.close()) });
      const node = new RhizomeNode(options, {
        searchIndex,
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
      node.#discovery = await NodeDiscovery.start({
        config,
        keyPair: identity.keyPair,
        nodeId: identity.nodeId,
        bound: udp.address,
        dataDirPath: dataDir?.path,
        resolveHost: options.resolveHost ?? resolveHostName,
        clock,
        log,
        lonely: () => node.#dht.routingTableSize() === 0,
        onLanPeer: () => node.#heardOnLan(),
      });
      opened.push(node.#discovery);
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
    if (received) {
      this.#popularity.notePeerKey(received.peer, received.publicKey);
      this.#dht.receive(from, received.plaintext, received.peer);
    }
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
    every(config.popularity.ranking_period_s * 1000, () => this.#publishRanking());
    every(rejoinCheckIntervalMs, () => Promise.resolve(this.#checkMembership()));
    every(kernelFilterRefreshMs, () => Promise.resolve(this.#updateKernelFilter()));
    this.#lagProbe.start();
    this.#schedule();
  }

  // --- banned sources ---

  /**
   * The guard banned a source: the kernel is told to drop its datagrams before they are read,
   * at once, then at most once per {@link kernelFilterUpdateMinMs} while bans keep coming.
   */
  #sourceBanned(): void {
    if (this.#stopping) return;
    if (this.#filterTimer !== undefined) {
      this.#filterPending = true;
      return;
    }
    this.#updateKernelFilter();
    this.#filterTimer = setTimeout(() => {
      this.#filterTimer = undefined;
      if (!this.#filterPending) return;
      this.#filterPending = false;
      this.#sourceBanned();
    }, kernelFilterUpdateMinMs);
  }

  /** Installs the guard's banned sources as the socket's kernel filter; says once why not. */
  #updateKernelFilter(): void {
    if (this.#stopping) return;
    const problem = this.#udp.blockSources(this.#guard.bannedSources());
    if (problem !== undefined && problem !== this.#filterProblem) {
      this.#log.info(
        "banned peers are dropped after their datagrams are read, not by the kernel: {problem}",
        { problem },
      );
    }
    this.#filterProblem = problem;
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
    this.#savedAtStart = saved;
    this.#discover(1000);
  }

  /**
   * Whether this node belongs to a network it was told of: it has saved peers or an operator's
   * `node.bootstrap`. Such a node keeps trying to reach them and never starts a network of its
   * own; one with only the automatic sources (built-in seeds, DNS, LAN) starts a new network when
   * none of them answers, and keeps looking.
   */
  get #toldWhereToJoin(): boolean {
    return this.#savedAtStart.length > 0 || !this.#builtInSeeds;
  }

  /**
   * One join attempt through the sources in order (src/node/discovery/join_sources.ts); on
   * failure the next follows after `retryMs`, doubling up to {@link bootstrapRetryMaxMs}, or at
   * once when a node is heard on the LAN meanwhile. Ends for good once a source worked.
   */
  #discover(retryMs: number): void {
    if (this.#stopping || this.#joinedThrough !== undefined) return;
    if (this.#discovering) {
      this.#discoverAgain = true;
      return;
    }
    this.#discovering = true;
    clearTimeout(this.#bootstrapTimer);
    const sources = this.#discovery!.sources(
      this.#savedAtStart,
      this.#bootstrapContacts,
      this.#builtInSeeds,
      (problems) => {
        if (!this.#stopping) this.#reportBootstrapProblems(problems);
      },
    );
    joinThroughSources(
      sources,
      (contacts, named) => this.#tryJoin(contacts, named),
      () => this.#stopping !== undefined,
    ).then((outcomes) => {
      this.#discovering = false;
      if (this.#stopping) return;
      this.#reportSources(outcomes);
      const worked = outcomes.find((outcome) => outcome.joined);
      if (worked) {
        this.#joinedThrough = worked;
        this.#log.info("joined the network through {count} contacts from {source}", {
          count: worked.found,
          source: worked.description,
        });
        this.#joinedFirstTime();
        return;
      }
      const seconds = retryMs / 1000;
      if (!this.#joined && !this.#toldWhereToJoin) {
        this.#log.info(
          "no discovery source gave a contact that answers: starting a new network; " +
            "looking again in {seconds} s and whenever a node is heard on the LAN",
          { seconds },
        );
        this.#joinedFirstTime();
      } else if (!this.#joined) {
        this.#log.warning("no source gave a contact that answers; trying again in {seconds} s", {
          seconds,
        });
      } else {
        this.#log.debug("still alone: no source answered; trying again in {seconds} s", {
          seconds,
        });
      }
      const again = this.#discoverAgain;
      this.#discoverAgain = false;
      this.#bootstrapTimer = setTimeout(
        () => this.#discover(Math.min(retryMs * 2, bootstrapRetryMaxMs)),
        again ? 0 : retryMs,
      );
    }).catch((error) => {
      this.#discovering = false;
      this.#log.error("joining failed: {error}", { error: String(error) });
      this.#bootstrapTimer = setTimeout(() => this.#discover(bootstrapRetryMaxMs), retryMs);
    });
  }

  /** Marks the first join (or the start of a new network) and does what follows it once. */
  #joinedFirstTime(): void {
    const first = !this.#joined;
    this.#joined = true;
    this.#resolveJoined();
    if (this.#dht.routingTableSize() > 0) {
      // Saved at once, so a node killed before its first periodic save still rejoins alone.
      this.#savePeers().catch((error) =>
        this.#log.warning("cannot save the routing table: {error}", { error: String(error) })
      );
    }
    if (first) this.#announceSeedInBackground();
  }

  /** A node was heard on the LAN for the first time: join through it now if still alone. */
  #heardOnLan(): void {
    if (this.#stopping || this.#joinedThrough !== undefined) return;
    this.#discover(1000);
  }

  /** Logs each source's problem: at info (warning for a node told where to join) when new. */
  #reportSources(outcomes: readonly SourceOutcome[]): void {
    for (const outcome of outcomes) {
      if (outcome.problem === undefined) continue;
      const text = outcome.found > 0
        ? `${outcome.problem} (${outcome.found} tried)`
        : outcome.problem;
      const known = this.#sourceProblems.get(outcome.source) === text;
      this.#sourceProblems.set(outcome.source, text);
      const level = known ? "debug" : this.#toldWhereToJoin ? "warning" : "info";
      this.#log[level]("discovery: {source}: {problem}", {
        source: outcome.description,
        problem: text,
      });
    }
  }

  /** Logs each contact's problem as a warning when it is new or changed, else at debug level. */
  #reportBootstrapProblems(problems: readonly { uri: string; problem: string }[]): void {
    const now = new Map(problems.map(({ uri, problem }) => [uri, problem]));
    for (const [uri, problem] of now) {
      const level = this.#bootstrapProblems.get(uri) === problem
        ? "debug"
        : this.#builtInSeeds
        ? "info"
        : "warning";
      this.#log[level]("skipping bootstrap contact {uri}: {problem}", { uri, problem });
    }
    this.#bootstrapProblems.clear();
    for (const [uri, problem] of now) this.#bootstrapProblems.set(uri, problem);
  }

  /** Joins through `seeds`: whether any answered, and when not, which named the wrong node. */
  #tryJoin(
    seeds: readonly Contact[],
    named: readonly BootstrapSeed[],
  ): Promise<{ ok: boolean; why?: string }> {
    return new Promise((resolve) => {
      this.#dht.bootstrap(seeds, (result) => {
        const refused = this.#reportWrongIdentities(result.wrongIdentity, named);
        resolve({ ok: result.ok, why: `no bootstrap contact answered${refused}` });
      });
      this.#schedule();
    });
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
    const seeds = uniqueContacts([
      ...known,
      ...found.seeds.map((seed) => seed.contact),
      ...(this.#discovery?.lanContacts() ?? []),
    ]);
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

  /**
   * Every `popularity.ranking_period_s` a node that stores for others publishes its report (what
   * it measured as a holder) as its `report` record; a seed then merges the reports of the peers
   * it heard from most recently with its own and publishes its signed ranking as its `ranking`
   * record; readers combine several seeds' rankings.
   */
  async #publishRanking(): Promise<void> {
    if (this.#stopping) return;
    const profile = this.#options.config.profiles[this.#choice.type];
    const report = profile.stores_for_others ? this.#popularity.reportRecord() : undefined;
    if (report !== undefined) await this.#network.publish(report);
    if (this.#choice.type !== "seed") return;
    const record = await this.#popularity.rankingRecord(this.#network);
    if (record === undefined) return;
    const { stored } = await this.#network.publish(record);
    this.#log.debug("published this seed's ranking (stored by {stored} nodes)", { stored });
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
    clearTimeout(this.#filterTimer);
    for (const interval of this.#intervals) clearInterval(interval);
    this.#lagProbe.stop();
    // Each step runs whatever an earlier one did: a failed save or discovery close must not
    // leave the socket bound or the store open.
    const step = async (name: string, run: () => unknown) => {
      try {
        await run();
      } catch (error) {
        this.#log.error("shutdown step {name} failed: {error}", { name, error: String(error) });
      }
    };
    const steps = async () => {
      await step("dht", () => this.#dht.stop());
      await step("discovery", () => this.#discovery?.close());
      await step(
        "peers",
        () =>
          this.#savePeers().catch((error) =>
            this.#log.warning("cannot save the routing table: {error}", { error: String(error) })
          ),
      );
      await step("streams", () => this.#streams.close());
      await step("udp", () => this.#udp.close());
      await step("search", () => {
        this.#store.setObserver?.(undefined);
        this.#cancelSearchFlush();
        this.#search.flush();
        this.#searchIndex.close();
      });
      await step("store", () => this.#ownsStore ? this.#store.close() : undefined);
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
   * probe (`receive_probe`); keys in snake_case and counters named (`status_report.ts`).
   *
   * @returns The report.
   */
  status(): NodeStatus {
    const store = this.#store.stats();
    return statusReport(json({
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
      discovery: {
        joined_through: this.#joinedThrough?.source ?? null,
        ...this.#discovery?.stats(),
      },
      receive_probe: this.#probe.stats(),
      udp: this.#udp.stats(),
      stream: this.#streams.stats(),
      search: {
        documents: this.#searchIndex.count(),
        pending_changes: this.#search.pendingChanges,
        flush_failures: this.#search.flushFailures,
      },
    }) as Record<string, unknown>) as NodeStatus;
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
  async newThread(request: NewThreadRequest): Promise<PublishReport> {
    const report = await this.#publisher.newThread(request);
    this.#knownIds.note("thread", report.id);
    if (!this.#options.config.search.network || !this.#authors) return report;
    // The network's search index: the thread's postings under its important terms. A failure
    // here leaves the thread published and findable by listings and local search.
    try {
      const id = NodeId.fromHex(report.id);
      const held = this.#store.get(id);
      const doc = held && docOfRecord(decodeStoredRecord(held.value));
      if (doc?.type === "thread") {
        const author = await this.#authors.load(request.author);
        const posted = await this.#networkSearch.publishThread(author.keyPair, id, doc);
        report.indexes.search_terms = posted.stored;
      }
    } catch (error) {
      this.#log.warning("cannot publish the thread's search postings: {error}", {
        error: String(error),
      });
    }
    return report;
  }

  // --- search (src/services/search/) ---

  /**
   * One page of search results: this node's index, and the network's unless `local`.
   *
   * @param request The query, page size, cursor, explain, and whether to stay local.
   * @returns The page.
   * @throws {InvalidInputError} For a bad query, limit or cursor (one line; nothing read).
   */
  async search(request: SearchRequest & { local: boolean }): Promise<SearchPage> {
    if (request.local || !this.#options.config.search.network) {
      return this.#search.search(request);
    }
    const page = await this.#networkSearch.search(request);
    this.#schedule();
    return page;
  }

  /**
   * Rebuilds the search index from every record the store holds.
   *
   * @returns How many documents and profiles were indexed, and how long it took.
   */
  reindexSearch(): Promise<ReindexReport> {
    return Promise.resolve(this.#rebuildSearch());
  }

  #rebuildSearch(): ReindexReport {
    const startedMs = performance.now();
    const store = this.#store;
    const records = function* () {
      for (const value of store.values()) {
        const held = store.get(value.key);
        if (held) yield { key: held.key, bytes: held.value };
      }
    };
    const counts = this.#search.rebuild(records());
    const report = { ...counts, elapsed_ms: Math.round(performance.now() - startedMs) };
    this.#log.info("search index rebuilt: {documents} documents in {ms} ms", {
      documents: report.documents,
      ms: report.elapsed_ms,
    });
    return report;
  }

  /**
   * Posts a message in a thread, or a reply to one of its messages.
   *
   * @param request Thread, parent, body, author.
   * @returns What was published and where.
   */
  async post(request: PostRequest): Promise<PublishReport> {
    const report = await this.#publisher.post(request);
    this.#knownIds.note("thread", request.thread.toHex());
    this.#knownIds.note("message", report.id);
    return report;
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
  async listThreads(request: ThreadListRequest): Promise<ThreadList> {
    const list = request.order === "popular"
      ? await this.#listPopular(request)
      : await this.#reader.listThreads(request);
    for (const thread of list.threads.toReversed()) {
      this.#knownIds.note("author", thread.author);
      this.#knownIds.note("thread", thread.id);
    }
    return list;
  }

  /**
   * The popular listing: the seeds' global ranking (median rank over their signed rankings),
   * or, without one or with `source` `local`, this node's own ranking.
   */
  async #listPopular(request: ThreadListRequest): Promise<ThreadList> {
    const global = request.source === "local"
      ? { threads: [], seeds: 0 }
      : await this.#popularity.globalRanking(this.#network);
    const ranking = global.threads.length > 0 ? "global" : "local";
    const ranked = ranking === "global" ? global.threads : this.#popularity.localRanking();
    const list = await this.#reader.listRankedThreads(ranked, request);
    const explained = new Map(ranked.map((thread) => [thread.id.toHex(), thread.explain]));
    return {
      ...list,
      ranking,
      threads: list.threads.map((thread) => {
        const explain = request.explain ? explained.get(thread.id) : undefined;
        return explain ? { ...thread, explain } : thread;
      }),
    };
  }

  /**
   * One record's popularity as this node measures it.
   *
   * @param key The record's key.
   * @returns Its counters and score.
   * @throws {ContentError} `NOT_FOUND` when this node tracks no reads of it.
   */
  popularity(key: NodeId): Promise<KeyPopularity> {
    const report = this.#popularity.popularityOf(key);
    if (report === undefined) {
      return Promise.reject(
        new ContentError(
          "NOT_FOUND",
          `Cannot show the popularity of ${key.toHex()}: this node has served no reads of it`,
        ),
      );
    }
    return Promise.resolve(report);
  }

  /**
   * Assembles a thread: its record, one page of messages as a reply tree, votes.
   *
   * @param request Thread, page size, cursor.
   * @returns The page, with what could not be read.
   */
  async showThread(request: ThreadShowRequest): Promise<ThreadView> {
    const view = await this.#reader.showThread(request);
    const stack = [...view.messages];
    // A page holds at most messagePageMax messages, replies included.
    for (let seen = 0; stack.length > 0 && seen <= messagePageMax; seen++) {
      const message = stack.pop()!;
      this.#knownIds.note("author", message.author);
      this.#knownIds.note("message", message.id);
      stack.push(...message.replies);
    }
    this.#knownIds.note("author", view.thread.author);
    this.#knownIds.note("thread", view.thread.id);
    const { votes, messages } = view.thread;
    this.#popularity.noteThreadShown(request.thread, {
      replies: messages,
      votes: votes.up + votes.down,
    });
    return view;
  }

  /**
   * The thread and message IDs this node published or showed, and their authors' keys, that
   * start with `prefix`, so a person can name one by the short ID a listing printed.
   *
   * @param prefix Hex digits.
   * @returns The matches, most recently seen first (at most a few: more than one is ambiguous).
   */
  resolveIds(prefix: string): IdMatch[] {
    return this.#knownIds.resolve(prefix);
  }

  /** IDs published or shown here, for {@link resolveIds}. */
  readonly #knownIds = new KnownIds();

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
/**
 * How long store changes wait before they are written to the search index, in ms: arrivals in a
 * burst share one transaction; a query writes them first, so none is missed.
 */
const searchFlushDelayMs = 50;

/** The ranking's weights from the config's `[search]` table. */
function rankingWeights(config: Config): RankingWeights {
  return {
    relevance: config.search.relevance_weight,
    freshness: config.search.freshness_weight,
    popularity: config.search.popularity_weight,
    freshnessHalfLifeS: config.search.freshness_half_life_s,
  };
}

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
