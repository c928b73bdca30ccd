/**
 * A Rhizome node inside another program: {@link startNode} runs the same {@link RhizomeNode} as
 * `rhizome run` (real UDP and TCP sockets, the secure channel, the DHT, the record rules), with an
 * identity and a store the program gives it and no data dir, and {@link EmbeddedNode} is what the
 * program may ask of it.
 *
 * @module
 */

import { type ConfigOverride, resolveConfig } from "../core/config.ts";
import { NODE_TYPES, type NodeType } from "../core/config_schema.ts";
import { utf8Encode } from "../core/bytes.ts";
import {
  ed25519KeyPairFromSecretKey,
  ed25519Sign,
  ed25519Verify,
  generateEd25519KeyPair,
} from "../core/crypto.ts";
import { ConfigError, InvalidInputError } from "../core/errors.ts";
import { type Identity, identityOf } from "../core/identity.ts";
import { NodeId } from "../core/node_id.ts";
import { SystemClock } from "../core/system_clock.ts";
import { recordRules } from "../content/record_rules.ts";
import { MemoryValueStore } from "../store/memory_value_store.ts";
import { RecordStore } from "../store/record_store.ts";
import { getLog } from "../core/log.ts";
import { type NodeStatus, type NodeStore, RhizomeNode } from "./node.ts";

/**
 * Where an embedded node listens unless told otherwise: loopback, on a port the system picks, so
 * a program that embeds a node opens nothing to the network by accident.
 */
export const embeddedListenDefault = "127.0.0.1:0";

/** The type an embedded node runs as unless told otherwise: it stores records for others. */
export const embeddedTypeDefault: NodeType = "full";

/** What {@link startNode} is given. */
export interface StartNodeOptions {
  /** The node's identity: {@link newIdentity}, or {@link identityFromSecretKey} to keep one. */
  identity: Identity;
  /**
   * Where it keeps records: {@link openMemoryStore} or {@link openLmdbStore}; the program closes
   * it after the node stopped. Default: a memory store of the node's own, closed at stop.
   */
  store?: NodeStore;
  /** `host:port` it listens on, UDP and TCP on one port. Default {@link embeddedListenDefault}. */
  listen?: string;
  /**
   * `host:port` other nodes reach it at (behind NAT). Default: the listen address, its port the
   * one bound and a wildcard host replaced by loopback.
   */
  advertise?: string;
  /**
   * Contact URIs (`rhz://…`) or share strings (`RHZ1…`) to join through. Default none: the
   * node tries the built-in seeds, DNS and LAN discovery (`settings` `discovery.*`,
   * docs/discovery.md), and starts a new network when none answers.
   */
  bootstrap?: readonly string[];
  /** `seed`, `full`, `light` or `mobile`. Default {@link embeddedTypeDefault}. */
  type?: NodeType;
  /**
   * Further settings by their path in the config file, checked as the config file's are, for
   * example `{ "dht.write_quorum": 3 }`. Default none.
   */
  settings?: Readonly<Record<string, unknown>>;
}

/** A node found by {@link EmbeddedNode.lookup}. */
export interface Peer {
  /** Its node ID, 40 hex digits. */
  nodeId: string;
  /** Its UDP address, `host:port`. */
  address: string;
}

/** What an acknowledged {@link EmbeddedNode.put} reports. */
export interface PutReport {
  /** The value's key, 40 hex digits: what {@link EmbeddedNode.get} takes. */
  key: string;
  /** Other nodes that acknowledged it durably. */
  stored: number;
  /** Durable copies acknowledged, this node's own included when it counts. */
  holders: number;
  /** Holders it needed (`dht.write_quorum`, fewer in a network that small). */
  quorum: number;
}

/** How {@link EmbeddedNode.put} publishes. */
export interface PutOptions {
  /** Seconds the copies live unless republished, at most `dht.record_ttl_s` (its default). */
  ttlS?: number;
}

/** How {@link EmbeddedNode.get} looks. */
export interface GetOptions {
  /**
   * Ask other nodes only, not this node's own copy: what the network holds. Default false.
   */
  networkOnly?: boolean;
}

/** The keys {@link StartNodeOptions} has; any other is a mistake said at once. */
const startOptionNames: readonly string[] = [
  "identity",
  "store",
  "listen",
  "advertise",
  "bootstrap",
  "type",
  "settings",
];

/**
 * Makes a new identity from the operating system's secure random source. Keep
 * `identity.keyPair.secretKey` (32 bytes, secret) to start as the same node again.
 *
 * @returns The identity.
 */
export function newIdentity(): Identity {
  return identityOf(generateEd25519KeyPair(), new Date().toISOString());
}

/**
 * The identity of a kept secret key.
 *
 * @param secretKey The 32-byte Ed25519 seed of {@link newIdentity}'s `keyPair.secretKey`.
 * @returns The identity.
 * @throws {InvalidInputError} When it is not 32 bytes.
 */
export function identityFromSecretKey(secretKey: Uint8Array): Identity {
  return identityOf(ed25519KeyPairFromSecretKey(secretKey), new Date().toISOString());
}

/**
 * A record store in memory, verified by the same rules as on disk; its quota is set to the node
 * type's when a node starts on it. Everything in it is lost with the process.
 *
 * @returns The store; close it after the node using it stopped.
 */
export function openMemoryStore(): NodeStore {
  const { config } = resolveConfig();
  const profile = config.profiles[embeddedTypeDefault];
  return new MemoryValueStore({
    rules: recordRules,
    clock: new SystemClock(),
    classes: config.store,
    quota: { bytesMax: profile.memory_bytes_max, recordsMax: profile.records_max },
  });
}

/**
 * Opens (creating it when missing) an LMDB record store, the one a data dir holds as
 * `records.mdb`, with the default record classes; its quota is set to the node type's when a
 * node starts on it.
 *
 * @param path The LMDB file; its lock file is this name with `-lock` appended.
 * @returns The store; close it after the node using it stopped.
 * @throws {StoreError} `STORE_UNUSABLE` when it cannot be opened.
 */
export function openLmdbStore(path: string): NodeStore {
  if (typeof path !== "string" || path === "") {
    throw new InvalidInputError("Cannot open an LMDB store: the path must be a non-empty string");
  }
  const { config } = resolveConfig();
  const profile = config.profiles[embeddedTypeDefault];
  return RecordStore.open({
    path,
    rules: recordRules,
    clock: new SystemClock(),
    classes: config.store,
    quota: { bytesMax: profile.disk_bytes_max, recordsMax: profile.records_max },
    log: getLog("store"),
  });
}

/**
 * Starts a node in this process and returns once its sockets are bound; it joins the network in
 * the background ({@link EmbeddedNode.joined}).
 *
 * @param options Identity, store, addresses, bootstrap contacts, type, settings.
 * @returns The running node.
 * @throws {RhizomeError} One line: `INVALID_INPUT` or `CONFIG_INVALID` for bad options (nothing
 *   is opened then), or what could not start (port in use).
 */
export async function startNode(options: StartNodeOptions): Promise<EmbeddedNode> {
  const { identity, store, type } = checkStartOptions(options);
  const overrides: ConfigOverride[] = [
    { path: "node.type", value: type, origin: "options.type" },
    {
      path: "node.listen",
      value: options.listen ?? embeddedListenDefault,
      origin: "options.listen",
    },
  ];
  if (options.advertise !== undefined) {
    overrides.push({
      path: "node.advertise",
      value: options.advertise,
      origin: "options.advertise",
    });
  }
  if (options.bootstrap !== undefined) {
    overrides.push({
      path: "node.bootstrap",
      value: Array.isArray(options.bootstrap) ? [...options.bootstrap] : options.bootstrap,
      origin: "options.bootstrap",
    });
  }
  for (const [path, value] of Object.entries(options.settings ?? {})) {
    overrides.push({ path, value, origin: `options.settings["${path}"]` });
  }
  let config;
  try {
    ({ config } = resolveConfig({ overrides }));
  } catch (error) {
    // The config file's messages are one line per problem; an option's error is one line.
    if (error instanceof ConfigError) {
      const oneLine = error.message.split("\n").join("; ");
      throw new ConfigError("CONFIG_INVALID", oneLine, { cause: error });
    }
    throw error;
  }
  const node = await RhizomeNode.start({ config, identity, store });
  return new EmbeddedRhizomeNode(node);
}

/** The options a node can start with, or the one line saying what is wrong. */
function checkStartOptions(
  options: StartNodeOptions,
): { identity: Identity; store: NodeStore | undefined; type: NodeType } {
  const bad = (what: string) => new InvalidInputError(`Cannot start a node: ${what}`);
  if (typeof options !== "object" || options === null) throw bad("options must be an object");
  const unknown = Object.keys(options).filter((name) => !startOptionNames.includes(name));
  if (unknown.length > 0) {
    throw bad(`unknown option ${unknown[0]}; the options are ${startOptionNames.join(", ")}`);
  }
  const { identity, store } = options;
  if (!isIdentity(identity)) {
    throw bad("options.identity must be an identity (newIdentity() or identityFromSecretKey())");
  }
  if (store !== undefined && !isNodeStore(store)) {
    throw bad(
      "options.store must be a store checking Rhizome's records (openMemoryStore() or " +
        "openLmdbStore())",
    );
  }
  const type = options.type ?? embeddedTypeDefault;
  if (!NODE_TYPES.includes(type)) {
    throw bad(`options.type must be one of ${NODE_TYPES.join(", ")}, got ${JSON.stringify(type)}`);
  }
  const settings = options.settings;
  if (settings !== undefined && (typeof settings !== "object" || settings === null)) {
    throw bad('options.settings must be an object of settings, for example { "dht.k": 20 }');
  }
  return { identity, store, type };
}

/**
 * Whether `identity` is one a node can run as: its node ID that of its public key, and its key
 * pair one (a signature made with it verifies), so a mismatch fails here and not at every
 * handshake.
 */
function isIdentity(identity: unknown): identity is Identity {
  if (typeof identity !== "object" || identity === null) return false;
  const { nodeId, keyPair } = identity as Partial<Identity>;
  if (!(nodeId instanceof NodeId) || !(keyPair?.publicKey instanceof Uint8Array)) return false;
  if (!nodeId.equals(NodeId.fromPublicKey(keyPair.publicKey))) return false;
  try {
    const probe = utf8Encode("rhizome identity check");
    return ed25519Verify(keyPair.publicKey, probe, ed25519Sign(keyPair, probe));
  } catch {
    return false;
  }
}

function isNodeStore(store: unknown): store is NodeStore {
  if (typeof store !== "object" || store === null) return false;
  const methods = [
    "get",
    "put",
    "noteRead",
    "delete",
    "values",
    "stats",
    "setQuota",
    "sweep",
    "close",
  ];
  const fields = store as Record<string, unknown>;
  // The node serves what its store kept to every peer: a store must check records by Rhizome's
  // rules, not by rules of its own.
  return fields.rules === recordRules &&
    methods.every((name) => typeof fields[name] === "function");
}

/**
 * A running node, as a program embedding it sees it. Every method answers with a promise that
 * settles: a lookup or read bounded by `dht.lookup_timeout_ms`, a put by its STOREs' timeouts,
 * and all of them at once when the node stops.
 */
export interface EmbeddedNode {
  /** Its node ID, 40 hex digits. */
  readonly nodeId: string;
  /** Its contact URI, `rhz://…`: what other nodes bootstrap through. */
  readonly contact: string;
  /**
   * Resolves once the node joined the network (at once when it had nobody to join through);
   * rejects with `UNAVAILABLE` when it stops first. A node that cannot reach its bootstrap
   * contacts keeps trying while it runs, so race this with a deadline of your own.
   */
  readonly joined: Promise<void>;
  /** Resolves once the node stopped, whoever stopped it. */
  readonly stopped: Promise<void>;

  /**
   * The node's state as plain JSON: what `rhizome status --json` shows (routing table, store,
   * DHT, secure channel and socket counters).
   *
   * @returns The report.
   */
  status(): NodeStatus;

  /**
   * Finds the nodes closest to an ID (an iterative FIND_NODE lookup).
   *
   * @param targetHex Any ID, 40 hex digits.
   * @returns The closest nodes that answered, nearest first, at most `dht.k`; none when the
   *   node knows no peer.
   * @throws {InvalidInputError} When the ID does not parse.
   */
  lookup(targetHex: string): Promise<Peer[]>;

  /**
   * Publishes a value as an immutable record, under the hash of the record: kept here (unless
   * the node is a `mobile` one) and stored at the nodes closest to its key. It resolves only
   * once `quorum` holders acknowledged a durable copy; with fewer it rejects, so a value no node
   * holds is never reported published.
   *
   * @param value The bytes, at most about 64 KiB.
   * @param options The copies' lifetime.
   * @returns The key and the acknowledgements.
   * @throws {ReplicationError} `NOT_STORED` when no node that counts holds it (a `mobile` node
   *   with nobody to store it); `NOT_REPLICATED` when it is kept here but too few others
   *   acknowledged it (the node keeps it and publishes it again).
   * @throws {RhizomeError} `STORE_FULL` when this node's store has no room;
   *   `RECORD_INVALID` when the value is too large; `INVALID_INPUT` for bad arguments.
   */
  put(value: Uint8Array, options?: PutOptions): Promise<PutReport>;

  /**
   * Finds a value: the payload of an immutable record, or the bytes of a signed record or set.
   *
   * @param keyHex The key, 40 hex digits.
   * @param options Whether to ask other nodes only.
   * @returns The value, or `undefined` when none of the nodes asked holds it.
   * @throws {InvalidInputError} When the key does not parse.
   */
  get(keyHex: string, options?: GetOptions): Promise<Uint8Array | undefined>;

  /**
   * Stops the node: requests in flight fail, its sockets close (the port is free once this
   * resolves), and a store it opened itself closes; a store the program gave it stays open.
   * Later calls return the same promise.
   *
   * @returns When stopped, within a few seconds.
   */
  stop(): Promise<void>;
}

/** {@link EmbeddedNode} on a {@link RhizomeNode}: checks arguments, then asks the node. */
class EmbeddedRhizomeNode implements EmbeddedNode {
  readonly #node: RhizomeNode;

  constructor(node: RhizomeNode) {
    this.#node = node;
  }

  get nodeId(): string {
    return this.#node.nodeId.toHex();
  }

  get contact(): string {
    return this.#node.contact;
  }

  get joined(): Promise<void> {
    return this.#node.joined;
  }

  get stopped(): Promise<void> {
    return this.#node.stopped;
  }

  status(): NodeStatus {
    return this.#node.status();
  }

  async lookup(targetHex: string): Promise<Peer[]> {
    const contacts = await this.#node.findNode(parseKey(targetHex, "look up"));
    return contacts.map((contact) => ({
      nodeId: contact.nodeId.toHex(),
      address: contact.address.key,
    }));
  }

  async put(value: Uint8Array, options: PutOptions = {}): Promise<PutReport> {
    if (!(value instanceof Uint8Array)) {
      throw new InvalidInputError("Cannot put: the value must be a Uint8Array");
    }
    const { ttlS } = options;
    if (ttlS !== undefined && !(Number.isSafeInteger(ttlS) && ttlS > 0)) {
      throw new InvalidInputError(`Cannot put: ttlS must be a positive integer, got ${ttlS}`);
    }
    const { key, stored, holders, quorum } = await this.#node.put(value, ttlS);
    return { key, stored, holders, quorum };
  }

  async get(keyHex: string, options: GetOptions = {}): Promise<Uint8Array | undefined> {
    const key = parseKey(keyHex, "get");
    return await this.#node.get(key, { networkOnly: options.networkOnly === true });
  }

  stop(): Promise<void> {
    return this.#node.stop("stopped by the program");
  }
}

function parseKey(hex: string, action: string): NodeId {
  const key = NodeId.fromHexText(hex);
  if (key === undefined) {
    throw new InvalidInputError(
      `Cannot ${action}: expected a key of 40 hex digits, got ${JSON.stringify(hex)}`,
    );
  }
  return key;
}
