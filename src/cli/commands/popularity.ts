/**
 * `rhizome popularity KEY`, and the text of a popular listing's ranking and score parts
 * (`thread list --popular [--explain]`).
 *
 * @module
 */

import { ControlClient } from "../../api/control_client.ts";
import { controlRoutes, type PopularityReport } from "../../api/routes.ts";
import { parseKeyHex } from "../../api/wire.ts";
import type { ThreadList } from "../../services/discussion/reports.ts";
import type { Command } from "../command.ts";
import { OK } from "../output.ts";

/** `rhizome popularity KEY`. */
export const popularityCommand: Command = {
  name: "popularity",
  summary: "Show one record's popularity as this node measures it: metrics and score",
  usage: "popularity KEY",
  description: [
    "Shows what this node measured of the record KEY as one of its holders: the request rate",
    "(distinct requesters per hour, each once per window, a /24 at most twice), the retention,",
    "the audience (distinct requesters), the requesters' networks, replies and votes, view",
    "time, holders and seeds; then the score with each weighted part and the replica count",
    "the score asks for. Definitions: docs/popularity.md. Needs a running node. Exit 1 when",
    "this node has served no reads of KEY.",
  ].join("\n"),
  examples: [
    "rhizome popularity 3f2a…",
    "rhizome popularity $(rhizome thread list --popular --json | jq -r '.threads[0].id') --json",
  ],
  routes: [controlRoutes.popularity],
  flags: {},
  positionals: { min: 1, max: 1 },
  async run(context) {
    const key = parseKeyHex(context.positionals[0]);
    const client = await ControlClient.fromDataDir(context.dataDir().path);
    const report = await client.call(controlRoutes.popularity, key);
    context.output.result(popularityText(report), report);
    return OK;
  },
};

/**
 * One record's popularity for people.
 *
 * @param report The node's report.
 * @returns The lines.
 */
export function popularityText(report: PopularityReport): string {
  const { metrics, explained } = report;
  const lines = [
    `key        ${metrics.key}`,
    `score      ${round(explained.score)}${explained.future ? "  (dated in the future: 0)" : ""}${
      explained.stale ? "  (stale: old and idle)" : ""
    }`,
    `age        ${explained.age_s === null ? "unknown" : `${explained.age_s} s`}  youth ${
      round(explained.youth)
    }`,
    `replicas   ${report.replicas_target} asked for, ${metrics.replication_count} known`,
    "parts      metric            value       weight  points",
  ];
  for (const [name, part] of Object.entries(explained.parts)) {
    lines.push(
      `           ${name.padEnd(17)} ${String(round(part.value)).padStart(10)}  ${
        String(round(part.weight)).padStart(6)
      }  ${round(part.points)}`,
    );
  }
  lines.push(`requests   ${round(metrics.requests_per_h)} per hour, repeats included`);
  return lines.join("\n");
}

/**
 * A popular listing for people: which ranking it read, the listing, and with `explain` each
 * thread's score parts.
 *
 * @param list The page.
 * @param listing The listing's own text.
 * @param explain Whether to show the parts.
 * @returns The lines.
 */
export function rankingText(list: ThreadList, listing: string, explain: boolean): string {
  const source = list.ranking === "global"
    ? "ranking: global (the seeds' rankings, median rank)"
    : "ranking: local (this node's measurements)";
  const lines = [source, listing];
  if (explain) {
    for (const thread of list.threads) {
      if (thread.explain === undefined) {
        lines.push(`${thread.id}  parts: only in the local ranking (--local)`);
        continue;
      }
      const parts = Object.entries(thread.explain).filter(([, points]) => points !== 0)
        .map(([name, points]) => `${name} ${points}`).join(", ");
      lines.push(`${thread.id}  ${parts || "no parts"}`);
    }
  }
  return lines.join("\n");
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
