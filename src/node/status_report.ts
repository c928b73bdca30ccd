/**
 * The node's status as scripts read it (`rhizome status --json`, `GET /v1/status`): one object,
 * every key in snake_case like the rest of the control API, and every counter named. The parts
 * (store, DHT, channel, guard, UDP, streams) keep their counters in camelCase and some keyed by a
 * wire number (DHT requests by message type, refused STOREs by status, shed datagrams by receive
 * class); this file is the one place that turns them into the report's names, so a counter a
 * part adds appears in the report with no change here.
 *
 * @module
 */

import { NodeId } from "../core/node_id.ts";
import { MessageType, StoreStatus } from "../dht/messages.ts";
import { ReceivePriority } from "../net/receive_queue.ts";

/**
 * Depth of nesting converted. The deepest counter today is three objects down
 * (`store.by_class.popular.records`); deeper values are copied as they are.
 */
const statusDepthMax = 8;

/**
 * `camelCase` as `snake_case`: `storeRefused` → `store_refused`, `delayMsMax` → `delay_ms_max`.
 * Keys already in snake_case are unchanged.
 *
 * @param key A key.
 * @returns The key in snake_case.
 */
export function snakeCase(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z])/g, "$1_$2")
    .toLowerCase();
}

/** Names by number, snake_case, for the counters keyed by a wire number. */
function namesOf(table: Record<string, number>): Map<number, string> {
  return new Map(Object.entries(table).map(([name, value]) => [value, snakeCase(name)]));
}

const messageTypeNames = namesOf(MessageType);
const storeStatusNames = namesOf(StoreStatus);
const receivePriorityNames = namesOf(ReceivePriority);

/**
 * The counters keyed by a number, by their path in the report: the number's name, or
 * `<prefix>_<number>` for a number this build does not know (a newer peer's message type).
 */
const numberedCounters: Record<string, { names: Map<number, string>; prefix: string }> = {
  "dht.requests": { names: messageTypeNames, prefix: "type" },
  "dht.store_refused": { names: storeStatusNames, prefix: "status" },
  "udp.receives_shed": { names: receivePriorityNames, prefix: "class" },
};

/**
 * The report scripts read: `raw` with its keys in snake_case at every depth, the counters keyed
 * by a number keyed by name instead, node IDs as hex, and only JSON values.
 *
 * @param raw The node's status as its parts give it.
 * @returns One plain JSON object.
 */
export function statusReport(raw: Record<string, unknown>): Record<string, unknown> {
  return convert(raw, "", 0) as Record<string, unknown>;
}

function convert(value: unknown, path: string, depth: number): unknown {
  if (value instanceof NodeId) return value.toHex();
  const numbered = numberedCounters[path];
  if (numbered && value !== null && typeof value === "object") {
    const named: Record<string, unknown> = {};
    for (const [number, count] of Object.entries(value)) {
      const name = numbered.names.get(Number(number)) ?? `${numbered.prefix}_${number}`;
      named[name] = count;
    }
    // An array (one slot per class) names every slot; a map names only those counted, so a
    // script reads a missing name as 0.
    return named;
  }
  if (depth >= statusDepthMax || value === null || typeof value !== "object") {
    return JSON.parse(JSON.stringify(value ?? null));
  }
  if (Array.isArray(value)) return value.map((item) => convert(item, path, depth + 1));
  const converted: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (field === undefined || typeof field === "function") continue;
    const name = snakeCase(key);
    converted[name] = convert(field, path === "" ? name : `${path}.${name}`, depth + 1);
  }
  return converted;
}
