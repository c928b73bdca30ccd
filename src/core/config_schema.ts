/**
 * The schema every configuration must satisfy, whatever its source. Each rule carries the message
 * an operator sees: "expected …", to which the loader adds the field path, what was found and
 * where it came from.
 *
 * @module
 */

import * as v from "valibot";
import { contactUriProblem, hostProblem, splitHostPort } from "./contact_uri.ts";
import { bootstrapContactsMax } from "./limits.ts";
import { fromBase32 } from "./bytes.ts";
import { isShareString, shareStringProblem } from "./share_string.ts";

/** The four node types, strongest first. */
export const NODE_TYPES = ["seed", "full", "light", "mobile"] as const;
/** A node type. */
export type NodeType = typeof NODE_TYPES[number];

/** Log levels, most verbose first (LogTape's names). */
export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;
/** A log level. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Log output formats. */
export const LOG_FORMATS = ["text", "json"] as const;
/** A log output format. */
export type LogFormat = typeof LOG_FORMATS[number];

const sizeUnits: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * Reads a size: a whole number of bytes, or text such as "512 MiB" or "1.5 GB".
 *
 * @param value A number or text.
 * @returns The size in bytes, or `NaN` when `value` is not a size.
 */
export function parseByteSize(value: string | number): number {
  if (typeof value === "number") return Number.isSafeInteger(value) ? value : NaN;
  if (typeof value !== "string") return NaN;
  const match = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = match ? sizeUnits[match[2].toLowerCase()] : undefined;
  if (!match || unit === undefined) return NaN;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : NaN;
}

function integer(min: number, max: number) {
  const message = `expected an integer ${min}..${max}`;
  return v.pipe(
    v.number(message),
    v.integer(message),
    v.minValue(min, message),
    v.maxValue(max, message),
  );
}

function decimal(min: number, max: number) {
  const message = `expected a number ${min}..${max}`;
  return v.pipe(v.number(message), v.minValue(min, message), v.maxValue(max, message));
}

function byteSize(min: number) {
  const message = `expected a size of at least ${min} bytes (a number, or text like "4 GiB")`;
  return v.pipe(
    v.union([v.number(), v.string()], message),
    v.transform(parseByteSize),
    v.number(message),
    v.minValue(min, message),
  );
}

function oneOf<const T extends readonly string[]>(options: T) {
  return v.picklist(options, `expected one of ${options.map((o) => `"${o}"`).join(", ")}`);
}

function table<const T extends v.ObjectEntries>(entries: T) {
  return v.strictObject(
    entries,
    (issue) => (issue.expected === "never" ? "unknown setting" : "expected a table"),
  );
}

/**
 * Splits "host:port" ("[v6]:port" for IPv6).
 *
 * @param text The address.
 * @returns The host (without brackets) and port, or `undefined` when malformed.
 */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const parts = splitHostPort(text);
  if (typeof parts === "string" || !/^[0-9]{1,5}$/.test(parts.port)) return undefined;
  const port = Number(parts.port);
  if (port > 65535 || hostProblem(parts.host)) return undefined;
  return { host: parts.host, port };
}

const hostPortMessage = "expected host:port, for example 0.0.0.0:7447 or [::]:7447";
const hostPort = v.pipe(
  v.string(hostPortMessage),
  v.check((text) => parseHostPort(text) !== undefined, hostPortMessage),
);

const loopbackMessage = "expected a loopback host:port (127.0.0.1, [::1] or localhost)";
const loopbackHostPort = v.pipe(
  v.string(loopbackMessage),
  v.check((text) => {
    const address = parseHostPort(text);
    if (!address) return false;
    return address.host === "localhost" || address.host === "::1" ||
      /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(address.host);
  }, loopbackMessage),
);

/** Why `text` is neither a contact URI nor a share string, or `undefined`. */
function contactTextProblem(text: string): string | undefined {
  return isShareString(text) ? shareStringProblem(text) : contactUriProblem(text);
}

const contactUri = v.pipe(
  v.string("expected a contact URI (rhz://<public key>@<host>:<port>) or a share string (RHZ1…)"),
  v.check(
    (text) => contactTextProblem(text) === undefined,
    (issue) =>
      `expected a contact URI or share string (${contactTextProblem(String(issue.input))})`,
  ),
);

/**
 * Longest DNS name of a seed list: its entries live at `<index>.<name>`, and with a name this
 * long an entry of the longest contact URI still fits a 512-byte UDP answer (docs/discovery.md).
 */
export const dnsListNameLengthMax = 100;

const dnsNameMessage =
  `expected a DNS name of at most ${dnsListNameLengthMax} characters (labels of letters, digits, "-" and "_"), or "" for none`;
const dnsName = v.pipe(
  v.string(dnsNameMessage),
  v.check(
    (text) =>
      text === "" ||
      (text.length <= dnsListNameLengthMax &&
        /^[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?)+\.?$/
          .test(text)),
    dnsNameMessage,
  ),
);

const publicKeyMessage = "expected an Ed25519 public key (52 base32 characters)";
const publicKeyText = v.pipe(
  v.string(publicKeyMessage),
  v.check((text) => {
    try {
      return text.length === 52 && fromBase32(text).length === 32;
    } catch {
      return false;
    }
  }, publicKeyMessage),
);

const ipv4Message = 'expected an IPv4 address, or "" for the system\'s choice';
const ipv4OrEmpty = v.pipe(
  v.string(ipv4Message),
  v.check(
    (text) => text === "" || (/^[0-9.]+$/.test(text) && hostProblem(text) === undefined),
    ipv4Message,
  ),
);

const multicastMessage =
  "expected an IPv4 multicast group and port (239.0.0.0/8), like 239.192.74.47:7449";
const multicastGroup = v.pipe(
  v.string(multicastMessage),
  v.check((text) => {
    const address = parseHostPort(text);
    return address !== undefined && address.port > 0 && /^239\.[0-9.]+$/.test(address.host) &&
      hostProblem(address.host) === undefined;
  }, multicastMessage),
);

const ipHostPortMessage =
  "expected an IP address and port, like 192.0.2.53:53 or [2001:db8::53]:53";
const ipHostPort = v.pipe(
  v.string(ipHostPortMessage),
  v.check((text) => {
    const address = parseHostPort(text);
    return address !== undefined && address.port > 0 &&
      (/^[0-9.]+$/.test(address.host) || address.host.includes(":"));
  }, ipHostPortMessage),
);

/** Most DNS servers named in `discovery.dns_servers`: a few fallbacks, not a list to scan. */
export const dnsServersMax = 8;

/** The budgets of one node type. */
export interface NodeProfile {
  /** Disk space for stored records, in bytes. */
  disk_bytes_max: number;
  /** Records stored at most. */
  records_max: number;
  /** Memory for caches and tables, in bytes. */
  memory_bytes_max: number;
  /** Contacts kept in the routing table. */
  routing_contacts_max: number;
  /** Requests this node may have in flight at once. */
  rpc_inflight_max: number;
  /** Whether the node stores values for others (DHT server) or only asks (DHT client). */
  stores_for_others: boolean;
}

/**
 * A validated configuration: every field present, sizes in bytes. Field names are the config
 * file's own (snake_case), so a message's path is exactly what the operator writes. The meaning
 * of each field is documented beside its default in `config_defaults.ts`.
 */
export interface Config {
  /** Who the node is on the network and how it is reached. */
  node: {
    /** `auto` or a node type. */
    type: "auto" | NodeType;
    /** UDP `host:port` to listen on. */
    listen: string;
    /** `host:port` others reach this node at; empty for the listen address. */
    advertise: string;
    /** Loopback `host:port` of the control API. */
    api: string;
    /** `host:port` of the separate metrics listener; empty for none (the control API has them). */
    metrics: string;
    /** Contact URIs to join through. */
    bootstrap: string[];
  };
  /** How a node finds contacts by itself: built-in seeds, a signed DNS list, the LAN. */
  discovery: {
    /** The built-in bootstrap list, used when `node.bootstrap` is empty. */
    seeds: string[];
    /** DNS name of the signed seed list's root TXT record; empty: no DNS discovery. */
    dns_name: string;
    /** The Ed25519 public key (base32) the DNS list must be signed by. */
    dns_key: string;
    /** DNS servers (`host:port`) to ask; empty: the system's. */
    dns_servers: string[];
    /** Whether to announce and listen for nodes on the LAN by multicast. */
    lan: boolean;
    /** IPv4 multicast group and port of LAN announcements. */
    lan_group: string;
    /** IPv4 address of the interface for LAN announcements; empty: the system's choice. */
    lan_interface: string;
    /** Seconds between two LAN announcements of a node. */
    lan_interval_s: number;
  };
  /** Logging on stderr. */
  log: {
    /** Lowest level written. */
    level: LogLevel;
    /** `text` or `json`. */
    format: LogFormat;
    /** Lines per second per category before suppression. */
    lines_per_second_max: number;
  };
  /** Kademlia parameters and periods. */
  dht: {
    /** Bucket size and replication factor. */
    k: number;
    /** Requests in flight per lookup. */
    alpha: number;
    /** Durable copies (holders) a put or publish needs to report success. */
    write_quorum: number;
    /** Standby contacts per bucket. */
    replacement_cache_max: number;
    /** Idle time before a bucket is refreshed, in seconds. */
    bucket_refresh_s: number;
    /** Replication period of holders, in seconds. */
    replicate_s: number;
    /** Republish period of publishers, in seconds. */
    republish_s: number;
    /** First request timeout, in milliseconds. */
    rpc_timeout_ms: number;
    /** Longest adaptive request timeout, in milliseconds. */
    rpc_timeout_ms_max: number;
    /** Resends of an unanswered request. */
    rpc_retries_max: number;
    /** Failures in a row that drop a peer from the table. */
    peer_failures_max: number;
    /** Time limit of one lookup, in milliseconds. */
    lookup_timeout_ms: number;
    /** Requests per second admitted from one peer address. */
    peer_requests_per_s: number;
    /** Requests one peer may send at once. */
    peer_requests_burst: number;
    /** Requests per second admitted from all peers. */
    requests_per_s: number;
    /** Requests all peers may send at once. */
    requests_burst: number;
    /** Exempt loopback and private addresses from per-prefix caps. */
    local_ranges_exempt: boolean;
  };
  /** The record store: expiry sweep and record classes. */
  store: {
    /** Period of the expiry sweep, in seconds. */
    sweep_s: number;
  } & Record<RecordClass, RecordClassPolicy>;
  /** Search: the ranking's weights and the network index. */
  search: {
    /** Weight of BM25 relevance, in percent. */
    relevance_weight: number;
    /** Weight of freshness, in percent. */
    freshness_weight: number;
    /** Weight of popularity, in percent. */
    popularity_weight: number;
    /** Age at which freshness is one half, in seconds. */
    freshness_half_life_s: number;
    /** Whether threads' terms are published to, and queries sent to, the network's index. */
    network: boolean;
  };
  /** Budgets by node type. */
  profiles: Record<NodeType, NodeProfile>;
  /** Popularity: the metrics' windows, the score's weights, replication by popularity. */
  popularity: {
    /** One requester counts once per key in a window this long, in seconds. */
    window_s: number;
    /** Age at which the score's weights are halfway from velocity to retention, in seconds. */
    age_pivot_s: number;
    /** Keys whose metrics a node tracks at most. */
    tracked_keys_max: number;
    /** Requesters of one network prefix (/24, /48) counted per key per window at most. */
    prefix_requesters_max: number;
    /** Weight of the request rate for new items. */
    weight_velocity_young: number;
    /** Weight of the request rate for old items. */
    weight_velocity_old: number;
    /** Weight of the retention rate for new items. */
    weight_retention_young: number;
    /** Weight of the retention rate for old items. */
    weight_retention_old: number;
    /** Weight of the audience size. */
    weight_audience: number;
    /** Weight of the requesters' network diversity. */
    weight_geo: number;
    /** Weight of replies and votes. */
    weight_engagement: number;
    /** Weight of the reported view time. */
    weight_view_time: number;
    /** Weight of the holders known. */
    weight_replication: number;
    /** Weight of the seeds holding the item. */
    weight_seed_coverage: number;
    /** Most replicas a record gets however popular (k at least). */
    replicas_max: number;
    /** Score above which a record gets more than k replicas and a longer life. */
    score_warm: number;
    /** Score at which a record gets `replicas_max` replicas. */
    score_hot: number;
    /** Live holders below which a record is pushed again at the next upkeep pass. */
    emergency_holders: number;
    /** Period of the seeds' ranking records, in seconds. */
    ranking_period_s: number;
  };
}

/** The classes a stored record belongs to, which decide its lifetime and eviction order. */
export const RECORD_CLASSES = ["popular", "active", "normal", "personal"] as const;

/** A record class. */
export type RecordClass = typeof RECORD_CLASSES[number];

/** How long records of one class live and are protected, in seconds. */
export interface RecordClassPolicy {
  /** Lifetime of a record stored without its own TTL. */
  ttl_s: number;
  /** How far activity (a read) pushes the expiry out. */
  extension_s: number;
  /** Longest lifetime activity may extend a record to, counted from when it was stored. */
  ttl_max_s: number;
  /** How long after it was stored no quota eviction may remove it. */
  retention_s: number;
}

const profile = table({
  disk_bytes_max: byteSize(1024 * 1024),
  records_max: integer(100, 1_000_000_000),
  memory_bytes_max: byteSize(16 * 1024 * 1024),
  routing_contacts_max: integer(20, 100_000),
  rpc_inflight_max: integer(1, 4096),
  stores_for_others: v.boolean("expected true or false"),
});

const recordClass = table({
  ttl_s: integer(60, 10 * 365 * 86400),
  extension_s: integer(0, 10 * 365 * 86400),
  ttl_max_s: integer(60, 10 * 365 * 86400),
  retention_s: integer(0, 10 * 365 * 86400),
});

/** The schema of a whole configuration; its output type is checked against {@link Config}. */
const configSchema: v.GenericSchema<unknown, Config> = table({
  node: table({
    type: oneOf(["auto", ...NODE_TYPES] as const),
    listen: hostPort,
    advertise: v.union(
      [v.literal(""), hostPort],
      `${hostPortMessage}, or "" for the listen address`,
    ),
    api: loopbackHostPort,
    metrics: v.union(
      [v.literal(""), hostPort],
      `${hostPortMessage}, or "" for no separate metrics listener`,
    ),
    bootstrap: v.pipe(
      v.array(contactUri, "expected a list of contact URIs"),
      v.maxLength(bootstrapContactsMax, `expected at most ${bootstrapContactsMax} contacts`),
    ),
  }),
  discovery: table({
    seeds: v.pipe(
      v.array(contactUri, "expected a list of contact URIs"),
      v.maxLength(bootstrapContactsMax, `expected at most ${bootstrapContactsMax} contacts`),
    ),
    dns_name: dnsName,
    dns_key: publicKeyText,
    dns_servers: v.pipe(
      v.array(ipHostPort, "expected a list of IP address:port"),
      v.maxLength(dnsServersMax, `expected at most ${dnsServersMax} servers`),
    ),
    lan: v.boolean("expected true or false"),
    lan_group: multicastGroup,
    lan_interface: ipv4OrEmpty,
    lan_interval_s: integer(1, 3600),
  }),
  log: table({
    level: oneOf(LOG_LEVELS),
    format: oneOf(LOG_FORMATS),
    lines_per_second_max: integer(1, 100_000),
  }),
  dht: table({
    k: integer(1, 64),
    alpha: integer(1, 16),
    write_quorum: integer(1, 64),
    replacement_cache_max: integer(0, 64),
    bucket_refresh_s: integer(60, 7 * 86400),
    replicate_s: integer(60, 7 * 86400),
    republish_s: integer(60, 30 * 86400),
    rpc_timeout_ms: integer(50, 60_000),
    rpc_timeout_ms_max: integer(50, 60_000),
    rpc_retries_max: integer(0, 10),
    peer_failures_max: integer(1, 100),
    lookup_timeout_ms: integer(100, 600_000),
    peer_requests_per_s: integer(1, 1_000_000),
    peer_requests_burst: integer(1, 1_000_000),
    requests_per_s: integer(1, 10_000_000),
    requests_burst: integer(1, 10_000_000),
    local_ranges_exempt: v.boolean("expected true or false"),
  }),
  store: table({
    sweep_s: integer(1, 86400),
    popular: recordClass,
    active: recordClass,
    normal: recordClass,
    personal: recordClass,
  }),
  search: table({
    relevance_weight: integer(0, 1000),
    freshness_weight: integer(0, 1000),
    popularity_weight: integer(0, 1000),
    freshness_half_life_s: integer(60, 10 * 365 * 86400),
    network: v.boolean("expected true or false"),
  }),
  profiles: table({
    seed: profile,
    full: profile,
    light: profile,
    mobile: profile,
  }),
  popularity: table({
    window_s: integer(60, 86400),
    age_pivot_s: integer(60, 365 * 86400),
    tracked_keys_max: integer(16, 1_000_000),
    prefix_requesters_max: integer(1, 1000),
    weight_velocity_young: decimal(0, 100),
    weight_velocity_old: decimal(0, 100),
    weight_retention_young: decimal(0, 100),
    weight_retention_old: decimal(0, 100),
    weight_audience: decimal(0, 100),
    weight_geo: decimal(0, 100),
    weight_engagement: decimal(0, 100),
    weight_view_time: decimal(0, 100),
    weight_replication: decimal(0, 100),
    weight_seed_coverage: decimal(0, 100),
    replicas_max: integer(1, 60),
    score_warm: decimal(0, 1000),
    score_hot: decimal(0, 1000),
    emergency_holders: integer(0, 60),
    ranking_period_s: integer(10, 86400),
  }),
});

/** One way a configuration breaks the schema. */
export interface SchemaIssue {
  /** The field's path: `dht.k`, `node.bootstrap[2]`; empty for the whole configuration. */
  path: string;
  /** What was expected, or "unknown setting". */
  message: string;
  /** Whether the field is not a setting at all (then there is no value to show). */
  unknownSetting: boolean;
}

/**
 * Checks a merged table of settings against the schema, field by field.
 *
 * @param table The merged settings.
 * @returns The configuration (sizes converted to bytes), or every issue found.
 */
export function checkConfigSchema(table: unknown): { config: Config } | { issues: SchemaIssue[] } {
  const result = v.safeParse(configSchema, table, { abortEarly: false });
  if (result.success) return { config: result.output };
  return {
    issues: result.issues.map((issue) => {
      const path = issuePath(issue.path);
      const unknownSetting = issue.expected === "never";
      const removed = unknownSetting ? removedSettings[path] : undefined;
      return { path, message: removed ?? issue.message, unknownSetting };
    }),
  };
}

/**
 * Settings that existed once, with what to do instead: a configuration naming one is refused
 * with that line rather than a bare "unknown setting".
 */
export const removedSettings: Readonly<Record<string, string>> = Object.fromEntries(
  ["dht.record_ttl_s", "dht.record_ttl_extension_s", "dht.record_ttl_max_s"].map((path) => [
    path,
    "removed: a record's lifetime comes from its class, [store.<class>] ttl_s, extension_s and " +
    "ttl_max_s (see 'rhizome config show')",
  ]),
);

function issuePath(path: readonly { key: unknown }[] | undefined): string {
  let text = "";
  for (const item of path ?? []) {
    text += typeof item.key === "number"
      ? `[${item.key}]`
      : `${text ? "." : ""}${String(item.key)}`;
  }
  return text;
}

/** A rule that ties several fields together, checked after every field is valid on its own. */
export interface CrossFieldRule {
  /** The field the message names. */
  path: string;
  /** Whether the configuration satisfies the rule. */
  holds: (config: Config) => boolean;
  /** What is expected, naming the other fields. */
  expected: string;
}

/** Rules between fields; each message says which other field is involved and why. */
export const crossFieldRules: readonly CrossFieldRule[] = [
  {
    path: "popularity.score_hot",
    holds: (c) => c.popularity.score_hot > c.popularity.score_warm,
    expected: "expected more than popularity.score_warm (replicas grow between the two)",
  },
  {
    path: "dht.alpha",
    holds: (c) => c.dht.alpha <= c.dht.k,
    expected: "expected at most dht.k (a lookup cannot ask more than k nodes at once)",
  },
  {
    path: "dht.write_quorum",
    holds: (c) => c.dht.write_quorum <= c.dht.k,
    expected: "expected at most dht.k (only the k closest nodes hold a value)",
  },
  {
    path: "dht.rpc_timeout_ms",
    holds: (c) => c.dht.rpc_timeout_ms <= c.dht.rpc_timeout_ms_max,
    expected: "expected at most dht.rpc_timeout_ms_max",
  },
  {
    path: "dht.lookup_timeout_ms",
    holds: (c) => c.dht.rpc_timeout_ms * (c.dht.rpc_retries_max + 1) < c.dht.lookup_timeout_ms,
    expected:
      "expected more than dht.rpc_timeout_ms × (dht.rpc_retries_max + 1), so one request can time out without failing the lookup",
  },
  {
    path: "dht.republish_s",
    holds: (c) => c.dht.republish_s <= c.store.normal.ttl_s,
    expected:
      "expected at most store.normal.ttl_s, or holders' copies expire before they are republished",
  },
  {
    path: "dht.replicate_s",
    holds: (c) => c.dht.replicate_s <= c.store.normal.ttl_s,
    expected:
      "expected at most store.normal.ttl_s, or holders' copies expire before they are replicated",
  },
  ...RECORD_CLASSES.flatMap((name): CrossFieldRule[] => [
    {
      path: `store.${name}.ttl_s`,
      holds: (c) => c.store[name].ttl_s <= c.store[name].ttl_max_s,
      expected: `expected at most store.${name}.ttl_max_s`,
    },
    {
      path: `store.${name}.retention_s`,
      holds: (c) => c.store[name].retention_s <= c.store[name].ttl_s,
      expected:
        `expected at most store.${name}.ttl_s (a record cannot be kept longer than it lives)`,
    },
  ]),
];
