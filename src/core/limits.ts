/**
 * Hard limits: each one a named constant with the reason for its value and what happens when it
 * is hit. Tunable numbers (periods, budgets, k) live in the configuration instead; these are
 * the ceilings that keep hostile or broken input from costing unbounded memory or time.
 *
 * @module
 */

/**
 * Largest config file read, checked before parsing. The full commented default file is under
 * 12 KiB; 256 KiB leaves room for long bootstrap lists while keeping a mistaken path (a log file,
 * a disk image) from being parsed. At the limit: `CONFIG_UNREADABLE`, nothing parsed.
 */
export const configFileBytesMax = 256 * 1024;

/**
 * Largest identity key file read, checked before parsing. A valid one is about 300 bytes.
 * At the limit: `IDENTITY_CORRUPT`; the file is left untouched.
 */
export const identityFileBytesMax = 4 * 1024;

/**
 * Longest contact URI parsed: 6 characters of scheme, 52 of key, "@", a host name of at most
 * 253 characters (RFC 1035) and ":65535". At the limit: `INVALID_INPUT`.
 */
export const contactUriLengthMax: number = 6 + 52 + 1 + 253 + 6;

/**
 * Most bootstrap contacts taken from configuration. A network needs one live contact to join;
 * more than 256 is a mistake (a pasted peer dump) and would flood the first seconds of start-up.
 * At the limit: `CONFIG_INVALID`.
 */
export const bootstrapContactsMax = 256;

/**
 * How long a node waits for the resolver, for one host name and for all the bootstrap names of
 * one join attempt together. A name that resolves at all does so in well under a second; past
 * this the names not resolved are skipped for this attempt (the node retries joining with
 * backoff, and resolves again then), so a dead resolver delays each attempt by at most this.
 */
export const hostResolveTimeoutMs = 5_000;

/**
 * Lookups of host names not yet settled in a process, counting those whose wait timed out (a
 * lookup cannot be cancelled). Past this a resolve is refused at once with `UNAVAILABLE`.
 */
export const hostLookupsOutstandingMax = 16;

/**
 * Addresses kept of one bootstrap host name, of the family the node can reach. A name for a pool
 * of seeds may list many; a handful is enough to join, and the DHT finds the rest.
 */
export const hostAddressesMax = 8;

/** Bootstrap host names resolved at once: the resolver is asked in parallel, but not 256 times. */
export const hostResolvesInFlightMax = 8;

/**
 * Largest DHT datagram: IPv6's minimum MTU (1280) less 48 bytes of IPv6 and UDP headers, so no
 * datagram is ever fragmented. A reply with k = 20 IPv6 contacts takes about 900 bytes. Larger
 * payloads use the stream transport. At the limit: the sender refuses to build the message; a
 * receiver drops a longer datagram unread and counts it.
 */
export const datagramBytesMax = 1232;

/**
 * Largest DHT message: what one encrypted DATA packet of the secure channel carries, that is
 * {@link datagramBytesMax} less the channel's 38 bytes of header and tag (`src/net/session.ts`,
 * checked equal by a test). The largest messages today: STORE of a full value 1,178 bytes, NODES
 * of 25 IPv6 contacts 1,022. At the limit: as for datagrams, the sender refuses to build the
 * message and a receiver drops it.
 */
export const dhtMessageBytesMax = 1194;

/**
 * Largest DHT message on the stream transport (a STORE or VALUE carrying a value too large for a
 * datagram): the largest record plus 1 KiB for the message around it, which is what one stream
 * frame carries (`src/net/stream_transport.ts`). At the limit: refused like a datagram.
 */
export const streamDhtMessageBytesMax: number = 64 * 1024 + 1024;

/**
 * Largest value carried in one datagram: what is left of {@link datagramBytesMax} after the
 * header, key and token of a STORE (about 60 bytes), rounded down. At the limit: `put` refuses
 * the value with a `RangeError`; a STORE carrying more is dropped as malformed.
 */
export const datagramValueBytesMax = 1100;

/**
 * Holders whose copies a get of a versioned value (signed record, set) reconciles before it
 * answers (fewer when fewer are found). A publisher stores each version at the k closest nodes,
 * so an entry is missed only if all of these lack it, and holders merge their copies at every
 * replication; asking all k instead would fetch up to k full copies (each up to 64 KiB by stream)
 * for every read of a large set.
 */
export const versionedReadHolders = 5;

/**
 * Requests waiting for an in-flight slot (the slots themselves are the node type's
 * `rpc_inflight_max`). A burst of lookups queues here; past the limit a new request fails at
 * once (the lookup treats it like a timeout) rather than growing memory.
 */
export const rpcPendingMax = 256;

/**
 * Requests one lookup may send, retries not counted. A lookup that keeps hearing of closer nodes
 * (a lying or churning neighbourhood) stops here and returns the best k it has. Three rounds of
 * k = 20 is 60.
 */
export const lookupQueriesMax = 60;

/**
 * Candidates one lookup remembers. Only the closest matter: beyond 4 × k the farther ones can
 * never be among the k closest once the nearer ones answer. At the limit: the farthest is dropped.
 */
export const lookupCandidatesMax = 80;

/**
 * Lookups that background maintenance (bucket refresh, replication, republishing) runs at once.
 * Keeps a node that wakes with a backlog from flooding the network; the rest wait for the next
 * maintenance pass.
 */
export const maintenanceLookupsMax = 4;

/**
 * How often a node checks what maintenance is due. Periods in the configuration are an hour or
 * more, so a minute of lateness is noise, and a sleeping node costs one wake-up a minute.
 */
export const maintenanceIntervalMs = 60_000;

/**
 * How long a write token stays valid: a STORE must echo a token from a FIND_NODE/FIND_VALUE reply
 * received within one to two of these periods (two secrets rotate). Five minutes covers a slow
 * lookup followed by its STOREs.
 */
export const tokenRotationMs = 5 * 60_000;

/** Length of a write token in bytes: 64 bits of keyed hash. */
export const tokenBytes = 8;

/**
 * Least-recently-seen contacts are pinged before eviction only when not heard from for this long;
 * a contact seen within the last minute stays without a ping, so a busy node does not ping its
 * whole table on every newcomer.
 */
export const contactFreshMs = 60_000;

/**
 * Contacts from one IPv4 /24 (or IPv6 /64) in one bucket, as discv5 allows: one operator with
 * one subnet cannot fill a bucket, which an eclipse attack needs. At the limit a newcomer from
 * that subnet is ignored (not even a standby). Loopback and private addresses are exempt by
 * default (`dht.local_ranges_exempt`, the setting that also exempts them from the receive
 * guard's prefix caps).
 */
export const bucketSubnetContactsMax = 2;

/**
 * Liveness pings per maintenance pass (one a minute) to suspect or unverified contacts (they
 * failed their last request, or never answered one): eight a minute clears or confirms a burst
 * of throwaway identities within minutes, and costs nothing while every contact answers.
 */
export const livenessPingsMax = 8;

/**
 * Liveness pings per maintenance pass to contacts that answered but have been quiet for
 * `contactFreshMs`: one a minute, the oldest check first, as Mainline's NICE maintenance does
 * (pymdht pings one every 6 s). More would multiply an idle network's traffic: 8 a minute tripled
 * the datagrams of a 2,000-node simulation.
 */
export const quietPingsMax = 1;

/**
 * Contacts a node tells it is leaving when it stops (the most recently seen): those most likely
 * to hold it in their tables and to name it to others. Best effort, one datagram each, so a
 * stop stays quick; the rest find out by timeouts.
 */
export const leaveNotifiedMax = 32;

/**
 * Largest record, checked before decoding: a long message with its metadata fits, and a record
 * this size still moves over the stream transport in one piece. At the limit: `put` refuses
 * with an error; a record arriving larger is refused unread.
 */
export const recordBytesMax = 64 * 1024;

/**
 * Most entries a set may be configured to hold: 65,535 fits the two policy bytes that go into a
 * set's key. A set at its own limit drops the entries that expire first.
 */
export const setEntriesMax = 65_535;

/**
 * What each stored record counts against the disk budget beyond its own bytes: its metadata
 * (about 70 bytes), its expiry-index entry (28 bytes) and LMDB's per-entry and page overhead.
 * Counting it keeps a budget full of tiny records honest about the disk it takes.
 */
export const recordOverheadBytes = 256;

/**
 * Records examined to choose eviction victims when the store is over its quota: all of them in a
 * smaller store; beyond that a window of this many from a random key (keys are hashes, so the
 * window is a fair sample), as Redis samples for its LRU. Bounds the time one write can spend
 * choosing. At the limit: the least valuable of the sample goes, not of the whole store.
 */
export const evictionSampleMax = 4096;

/**
 * Share of the quota an eviction frees beyond what the write needs, so the writes that follow
 * find room without another scan. 1% of a budget is a few seconds of writes at full speed.
 */
export const evictionSlackFraction = 0.01;

/**
 * Free disk the record store leaves on its file system: a put is refused (`STORE_FULL`) when the
 * disk has less than this free beyond the record. LMDB copies pages on write, so even a delete
 * needs a few free pages to commit, and the node's other files (`api.json` and `api.token` at
 * every start, the saved routing table of up to ~3,200 contacts written beside the old one, the
 * lock file) need room too: 4 MiB holds all of them several times over, so a node that filled
 * its disk still frees space by expiry and restarts. On a disk filled by another program the
 * commit's own failure is the refusal.
 */
export const storeDiskFreeBytesMin = 4 * 1024 * 1024;

/**
 * Size of the data directory's reserve file (`disk.reserve`), deleted by a start that finds less
 * than this free so the node can still write its lock and control API files on a disk another
 * program filled to the last byte (and serve what it holds). 1 MiB holds those files (a few KiB)
 * and a saved routing table many times over; it is written again once the disk has room.
 */
export const diskReserveBytes = 1024 * 1024;

/**
 * Expired records one sweep transaction deletes. Small enough that the transaction's callback
 * holds the main thread for about a millisecond, so reads and writes go on between batches.
 */
export const sweepBatchMax = 1000;

/**
 * Batches one sweep runs. A larger backlog (after a long downtime) is cleared by the next sweeps;
 * reads treat expired records as absent meanwhile.
 */
export const sweepBatchesMax = 100;

/**
 * Records kept in quarantine (failed their integrity check) for an operator to inspect. At the
 * limit a new failure is still reported and counted, but its bytes are not kept.
 */
export const quarantineMax = 1000;

/**
 * Longest a batch put (`RecordStore.putRecords`) verifies records without yielding to the event
 * loop. A batch of 256 sets of 512 signed entries takes seconds to verify; in slices of this
 * size a running node's timers, datagrams and control API are served between them (its RPC
 * timeout floor is 250 ms).
 */
export const verifyYieldEveryMs = 20;

/**
 * Reads a read-only store makes before it unmaps the pages its reads mapped (see
 * `store/mapped_pages.ts`). A read faults in a page or two, and the kernel maps cached neighbours
 * with each fault (64 KiB or a whole large folio), so this bounds what a walk holds resident to a
 * few tens of MiB: measured, an export's file-backed memory stays within 25 MiB of where it
 * started, for a 100 MB store as for a 3 GB one. A release costs a read of `/proc/self/maps` and
 * a `madvise`, about 0.2 ms. (Counting the process's page faults instead, to release less often
 * for small records, held more resident: a fault can map more than 64 KiB.)
 */
export const mappedReleaseReads = 128;
