/**
 * The embedded default configuration: the one source of every default value. It is compiled into
 * the program, parsed at start, and also written (commented out) by `rhizome init`, so the file an
 * operator edits documents exactly what the program would do without it.
 *
 * @module
 */

/** The defaults, as TOML with a comment on every setting. */
export const DEFAULT_CONFIG_TOML = `# Rhizome configuration.
#
# Every setting below shows its default, commented out. Uncomment a line to change it. The order
# of precedence is: built-in defaults < this file < RHIZOME_* environment variables < flags.
# An environment variable's name is RHIZOME_ followed by the setting's path in capitals with "_"
# between the parts: RHIZOME_DHT_K=24, RHIZOME_LOG_LEVEL=debug, RHIZOME_NODE_BOOTSTRAP=uri,uri.
# Sizes are bytes, or text such as "512 MiB". Durations carry their unit in the name (_s, _ms).

[node]
# Node type: "auto" measures disk, memory and CPU at start and picks one of the profiles below;
# or one of "seed", "full", "light", "mobile".
type = "auto"
# host:port the DHT listens on for UDP datagrams. "[::]:7447" listens on IPv6 as well.
listen = "0.0.0.0:7447"
# host:port other nodes should use to reach this one (behind NAT or a proxy). Empty: the listen
# address, with a wildcard host replaced by 127.0.0.1.
advertise = ""
# host:port of the local control API (HTTP). Loopback addresses only.
api = "127.0.0.1:7448"
# host:port of a separate HTTP listener serving only GET /metrics, /v1/metrics and /dashboard,
# for a Prometheus on another host (any address; limit it with a firewall). Empty: none; the
# control API above serves the same three routes to this machine without its token.
metrics = ""
# Contacts to join through (rhz:// URIs or RHZ1 share strings). Empty: [discovery] below.
bootstrap = []

[discovery]
# How a node finds the network when node.bootstrap is empty; sources are tried in turn until one
# gives contacts that answer: saved peers and these seeds, the DNS list, the LAN (docs/discovery.md).
# The built-in bootstrap list. PLACEHOLDERS until the project runs public seeds: names under
# .invalid never resolve (RFC 6761), and nobody holds the keys. Replace them here or set
# node.bootstrap.
seeds = [
  "rhz://53g2vo2m6nuu4o6s2ea2bpordscc7qq4epjll4yhh4ilq3ja22mq@seed1.rhizome.invalid:7447",
  "rhz://syxfmuwpuqdazmk7xg66ytaagfunzgsg5iksjn3kts2jb3m23cla@seed2.rhizome.invalid:7447",
  "rhz://r3prwihwugsszqmopqihyaqujv3wwxn3odzsixdrag77lezbqr7q@seed3.rhizome.invalid:7447",
]
# DNS name of the signed seed list (TXT records); "" turns DNS discovery off. A PLACEHOLDER.
dns_name = "_rhizome-seeds.rhizome.invalid"
# The key (base32) the list must be signed by; a list older than one seen is refused. A PLACEHOLDER.
dns_key = "aharsyupj2sekjsaud6matxz5xilvtyotbzi24kleft2kg5nxx3q"
# DNS servers to ask, as host:port. Empty: the system's.
dns_servers = []
# Announce this node on the LAN by multicast and join through nodes heard there (off for a node
# on loopback unless lan_interface is loopback too).
lan = true
# IPv4 multicast group and port of the announcements.
lan_group = "239.192.74.47:7449"
# IPv4 address of the interface to use. "": the system's choice.
lan_interface = ""
# Seconds between two 112-byte announcements of this node (±20%; never two within 1 s).
lan_interval_s = 30

[log]
# Lowest level written to stderr: "trace", "debug", "info", "warning", "error" or "fatal".
level = "info"
# "text" for people, "json" for one JSON object per line.
format = "text"
# Lines per second each log category may write; the excess is dropped and then counted in a
# single "suppressed" line, so a flood of bad datagrams cannot fill the disk with logs.
lines_per_second_max = 50

[dht]
# Bucket size and replication factor: the k closest nodes hold each value. 20 survives the
# loss of most of a bucket between two refreshes at the churn rates measured in public DHTs.
k = 20
# Requests in flight per lookup.
alpha = 3
# Durable copies a put or publish needs before it reports success: this node's own copy counts
# as one when the node stores for others and is itself among the k closest to the key; STORE
# acknowledgements from other holders count one each. 2 means the record outlives the loss of
# any one node (this one included) from the moment it is acknowledged, at no extra cost in
# latency (the put waits for all k STOREs anyway); more would fail puts in small networks. A
# node that has never known more peers than this asks only for as many copies as there can be
# holders, so a one-node development network still succeeds with its own copy. Short of the quorum a put
# fails with NOT_REPLICATED (kept here, republished later) or NOT_STORED (kept nowhere).
write_quorum = 2
# Contacts kept per bucket to replace peers that stop answering.
replacement_cache_max = 8
# Refresh a bucket that saw no lookup for this long.
bucket_refresh_s = 3600
# Holders push their values to the current k closest this often (at most store.normal.ttl_s).
replicate_s = 3600
# The original publisher stores its values again this often (at most store.normal.ttl_s).
republish_s = 86400
# First timeout of a request; it then adapts to each peer's measured round-trip time, up to the
# maximum.
rpc_timeout_ms = 1000
rpc_timeout_ms_max = 4000
# Resends of a request that got no answer (so 1 + this many sends in all).
rpc_retries_max = 2
# A peer that fails this many requests in a row leaves the routing table, and lookups stop asking
# it (pymdht uses 2). After one failure it is "suspect": handed out only when too few others.
peer_failures_max = 2
# An iterative lookup gives up after this long.
lookup_timeout_ms = 10000
# Incoming requests (PING, FIND_NODE, FIND_VALUE, STORE) admitted per second from one peer
# address, after a burst, and from all peers together; the excess is dropped and counted
# (status: dht.dropped.peerRateLimited, rateLimited). Replies to this node's own requests are
# never limited.
peer_requests_per_s = 50
peer_requests_burst = 200
requests_per_s = 5000
requests_burst = 10000
# Before any decryption, each datagram passes cheap limits: packets per source address and per
# identity, handshakes per source address and per address prefix (/24, /48). Peers over them are
# graylisted, then banned for 10 minutes if they keep on (status: guard). Loopback and private
# addresses (127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, ::1, fc00::/7, fe80::/10) are exempt
# from the prefix caps, and from the cap of 2 contacts per /24 (/64) in a routing-table bucket
# (as discv5), while this is true, so many nodes on one machine or LAN keep working; identities
# never are.
local_ranges_exempt = true

[store]
# The expiry sweep runs this often; it deletes in small batches, so reads never wait for it.
sweep_s = 60

# Record classes: each record on disk has one. "popular" is what the popularity ranking marks;
# "active", what was read or written lately; "normal", everything else; "personal", what this
# node's own user published. For each class:
#   ttl_s        the lifetime a write gives a record, and the most a STORE or publish may ask
#                for (the DHT has no lifetime of its own: these classes are the one policy);
#   extension_s  how far a read (activity) pushes the expiry out...
#   ttl_max_s    ...but never past this long after the record was first stored;
#   retention_s  how long after it was stored no quota eviction may remove it. (Expiry still
#                does: a record whose publisher lets it lapse is gone.)
# When the disk budget or record count of the node type is reached, expired records go first,
# then the least valuable (lowest score, normal before active before popular before personal,
# longest unread first), never one inside its retention. If that cannot make room, the write is
# refused and counted.
[store.popular]
ttl_s = 604800
extension_s = 86400
ttl_max_s = 7776000
retention_s = 604800

[store.active]
ttl_s = 259200
extension_s = 43200
ttl_max_s = 2592000
retention_s = 86400

[store.normal]
ttl_s = 86400
extension_s = 3600
ttl_max_s = 604800
retention_s = 3600

[store.personal]
ttl_s = 2592000
extension_s = 86400
ttl_max_s = 31536000
retention_s = 2592000

[search]
# How results are ranked (docs/search.md): score = (relevance_weight × BM25 relevance +
# freshness_weight × freshness + popularity_weight × popularity) / 100, each part 0..1, then
# halved for each hit of one author beyond the first two. \`rhizome search --explain\` shows them.
relevance_weight = 100
freshness_weight = 25
# Popularity is 0 for every thread until the popularity service lands.
popularity_weight = 10
# Age at which a document's freshness is one half.
freshness_half_life_s = 604800
# Publish each new thread's important terms to the network's index, and ask it when this node's
# own index finds fewer results than a page.
network = true

# Budgets for each node type. "auto" picks the largest profile the machine can honour.
[profiles.seed]
# Disk space for stored records (their bytes plus a fixed overhead per record).
disk_bytes_max = "200 GiB"
# Records stored at most.
records_max = 100000000
# Memory for caches and tables.
memory_bytes_max = "4 GiB"
# Contacts kept in the routing table.
routing_contacts_max = 3200
# Requests this node may have in flight at once.
rpc_inflight_max = 256
# Whether the node stores values for others (DHT server) or only asks (DHT client).
stores_for_others = true

[profiles.full]
disk_bytes_max = "20 GiB"
records_max = 10000000
memory_bytes_max = "1 GiB"
routing_contacts_max = 3200
rpc_inflight_max = 64
stores_for_others = true

[profiles.light]
disk_bytes_max = "1 GiB"
records_max = 1000000
memory_bytes_max = "256 MiB"
routing_contacts_max = 640
rpc_inflight_max = 16
stores_for_others = true

[profiles.mobile]
disk_bytes_max = "64 MiB"
records_max = 50000
memory_bytes_max = "64 MiB"
routing_contacts_max = 160
rpc_inflight_max = 8
stores_for_others = false

# Popularity (docs/popularity.md): measured where records are served, scored with weights that
# move from velocity to retention as an item ages; drives replicas and lifetimes.
[popularity]
# A requester counts once per key per window; a /24 (or /48) at most prefix_requesters_max times.
window_s = 3600
prefix_requesters_max = 2
# Age at which the weights are halfway from their young to their old values.
age_pivot_s = 172800
# Keys tracked at most, each in at most 2 KB.
tracked_keys_max = 4096
# The score's weights: each term is weight × log2(1 + metric).
weight_velocity_young = 3.0
weight_velocity_old = 1.0
weight_retention_young = 0.5
weight_retention_old = 2.5
weight_audience = 0.5
weight_geo = 0.5
weight_engagement = 1.0
weight_view_time = 0.5
weight_replication = 0.0
weight_seed_coverage = 0.25
# Replicas grow from k at score_warm to replicas_max at score_hot.
replicas_max = 40
score_warm = 8.0
score_hot = 20.0
# Fewer live holders than this after a loss: pushed again at the next upkeep pass.
emergency_holders = 10
# Seeds publish their signed ranking this often.
ranking_period_s = 600
`;

/**
 * The defaults with every setting commented out: what `rhizome init` writes. Section headers stay,
 * so uncommenting a line puts it in the right table.
 *
 * @returns The commented TOML text.
 */
export function commentedDefaultConfigToml(): string {
  // A list written over several lines (`seeds = [` … `]`) is commented out line by line.
  let inList = false;
  return DEFAULT_CONFIG_TOML.split("\n")
    .map((line) => {
      if (inList) {
        inList = line !== "]";
        return `# ${line}`;
      }
      if (!/^[a-z_]+ = /.test(line)) return line;
      inList = line.endsWith("= [");
      return `# ${line}`;
    })
    .join("\n");
}
