/**
 * The status report scripts read (`rhizome status --json`, `GET /v1/status`): one object whose
 * keys are snake_case at every depth, with the counters the parts key by a wire number keyed by
 * name. Checked on a synthetic report and on two real nodes in this process that talked.
 */

import assert from "node:assert/strict";
import { newIdentity, startNode } from "../../src/node/mod.ts";
import { snakeCase, statusReport } from "../../src/node/status_report.ts";
import { MessageType, StoreStatus } from "../../src/dht/messages.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { utf8Encode } from "../../src/core/bytes.ts";

/** Every key of `value`, with its path, at any depth. */
function keysOf(value: unknown, path = ""): string[] {
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, field]) => [
    `${path}${key}`,
    ...keysOf(field, `${path}${key}.`),
  ]);
}

Deno.test("snakeCase() turns camelCase into snake_case and keeps snake_case", () => {
  assert.equal(snakeCase("storeRefused"), "store_refused");
  assert.equal(snakeCase("delayMsMax"), "delay_ms_max");
  assert.equal(snakeCase("node_id"), "node_id");
  assert.equal(snakeCase("uptime_s"), "uptime_s");
});

Deno.test("statusReport() names the counters keyed by a number, unknown numbers too", () => {
  const report = statusReport({
    node_id: NodeId.fromHex("ab".repeat(20)),
    dht: {
      requests: { [MessageType.findValue]: 3, [MessageType.store]: 2, 99: 1 },
      storeRefused: { [StoreStatus.badToken]: 4, 42: 1 },
    },
    udp: { receivesShed: [1, 0, 2, 0], kernelReceiveDrops: null },
    store: { byClass: { popular: { records: 1 } } },
  });
  assert.deepEqual(report, {
    node_id: "ab".repeat(20),
    dht: {
      requests: { find_value: 3, store: 2, type_99: 1 },
      store_refused: { bad_token: 4, status_42: 1 },
    },
    udp: {
      receives_shed: { reply: 1, known_peer: 0, known_handshake: 2, stranger_handshake: 0 },
      kernel_receive_drops: null,
    },
    store: { by_class: { popular: { records: 1 } } },
  });
});

Deno.test("a real node's status has only snake_case keys and named request counters", async () => {
  const first = await startNode({ identity: newIdentity() });
  const second = await startNode({ identity: newIdentity(), bootstrap: [first.contact] });
  try {
    await Promise.all([first.joined, second.joined]);
    await second.put(utf8Encode("counted"));
    const status = first.status();
    const keys = keysOf(status);
    assert.ok(keys.length > 100, `a full report (${keys.length} keys)`);
    const wrong = keys.filter((path) => !/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/.test(path));
    assert.deepEqual(wrong, [], "every key snake_case, none a bare number");
    const requests = (status.dht as { requests: Record<string, number> }).requests;
    assert.ok((requests.find_node ?? 0) + (requests.ping ?? 0) >= 1, JSON.stringify(requests));
  } finally {
    await Promise.all([second.stop(), first.stop()]);
  }
});
