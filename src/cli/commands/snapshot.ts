/**
 * `rhizome snapshot export|verify|import|list`.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { ControlApiError, ControlClient } from "../../api/control_client.ts";
import { controlRoutes } from "../../api/routes.ts";
import { UsageError } from "../../core/errors.ts";
import { getLog } from "../../core/log.ts";
import { formatBytes } from "../../core/format.ts";
import { SNAPSHOT_SCOPES, type SnapshotScope } from "../../services/snapshots/format.ts";
import { exportSnapshot, SNAPSHOTS_FOLDER } from "../../node/snapshot_export.ts";
import {
  type ImportReport,
  importReport,
  importSnapshot,
  listSnapshots,
  verifySnapshot,
} from "../../node/snapshot_import.ts";
import type { Command, CommandContext } from "../command.ts";
import { OK } from "../output.ts";
import { Progress } from "../progress.ts";
import { unknownActionError } from "../suggest.ts";

const actions = ["export", "verify", "import", "list"];
const exportOnlyFlags = ["out", "scope", "keep", "quiet"];

/** Exports, checks, restores and lists snapshots of the record store. */
export const snapshotCommand: Command = {
  name: "snapshot",
  summary: "Export, verify, import or list snapshots of the record store",
  usage: "snapshot export [--out PATH|DIR|-] [--scope all|global] [--keep N] [--quiet] | " +
    "verify FILE | import FILE | list [DIR]",
  description: [
    "export  writes every live record of the store, from one read transaction, to one signed",
    "        gzip file (docs/snapshots.md). Works while a node runs on the data dir. --out is a",
    "        file, a directory (named rhizome-<UTC time>-<node ID>.snapshot.gz; default",
    "        DIR/snapshots) or - for stdout. --keep N (with a directory) then deletes this",
    "        node's oldest snapshots there beyond N. --quiet prints nothing on success.",
    "verify  checks the format, the hash, the signature and every record; prints counts by",
    "        kind; exit 0 only when all is sound, else one line naming the first problem.",
    "import  verifies the whole file, then stores every record (expired ones skipped, newer",
    "        versions held kept); importing twice changes nothing. When a node runs on the data",
    "        dir and its control API answers, the node imports the file (its absolute path; the",
    "        node must be able to read it) while it keeps running, with no progress bar; else",
    "        into the stopped node's data dir, with a progress bar on a terminal.",
    "list    the snapshots in DIR (default DIR/snapshots): time, node, scope, counts, size.",
  ].join("\n"),
  examples: [
    "rhizome snapshot export --out /var/backups/rhizome/ --keep 24 --quiet",
    "rhizome snapshot export --out - | ssh backup 'cat > rhizome.snapshot.gz'",
    "rhizome snapshot verify rhizome-20270115T120000Z-3f2a9c1b7d4e.snapshot.gz",
    "rhizome snapshot import --data-dir /srv/rhizome backup.snapshot.gz",
    "rhizome snapshot list /var/backups/rhizome --json",
  ],
  routes: [controlRoutes.status, controlRoutes.importSnapshot],
  flags: {
    out: { type: "string", valueName: "PATH", description: "export: file, directory or -" },
    scope: { type: "string", valueName: "SCOPE", description: "export: all (default) or global" },
    keep: { type: "string", valueName: "N", description: "export: keep N snapshots in --out DIR" },
    quiet: { type: "boolean", description: "export: print nothing on success" },
  },
  positionals: { min: 1, max: 2 },
  run(context) {
    const [action, argument] = context.positionals;
    if (!actions.includes(action)) {
      throw unknownActionError("snapshot", action, actions);
    }
    if (action !== "export") {
      const misplaced = exportOnlyFlags.find((flag) => context.flags[flag] !== undefined);
      if (misplaced) throw new UsageError(`flag --${misplaced} is for 'rhizome snapshot export'`);
    }
    if ((action === "verify" || action === "import") && argument === undefined) {
      throw new UsageError(`'rhizome snapshot ${action}' needs a FILE`);
    }
    if (action === "export" && argument !== undefined) {
      throw new UsageError(`unexpected argument "${argument}" (use --out PATH)`);
    }
    if (action === "export") return runExport(context);
    if (action === "verify") return runVerify(context, argument);
    if (action === "import") return runImport(context, argument);
    return runList(context, argument);
  },
};

async function runExport(context: CommandContext): Promise<number> {
  const scope = (context.flags.scope as string | undefined) ?? "all";
  if (!(SNAPSHOT_SCOPES as readonly string[]).includes(scope)) {
    throw new UsageError(`flag --scope takes ${SNAPSHOT_SCOPES.join(" or ")}, got "${scope}"`);
  }
  const keepText = context.flags.keep as string | undefined;
  const keep = keepText === undefined ? undefined : Number(keepText);
  if (keep !== undefined && (!/^\d+$/.test(keepText!) || keep < 1)) {
    throw new UsageError(`flag --keep takes a count of at least 1, got "${keepText}"`);
  }
  const config = await context.config();
  const out = context.flags.out as string | undefined;
  const progress = progressFor(context, "exported");
  let summary;
  try {
    summary = await exportSnapshot({
      dataDir: context.dataDir(),
      classes: config.store,
      out,
      scope: scope as SnapshotScope,
      keep,
      onProgress: (records, bytes, total) => progress.update(records, bytes, total),
    });
  } finally {
    progress.finish();
  }
  if (summary.damaged > 0) {
    getLog("cli").warning(
      "{count} records failed their integrity check in the store and were left out",
      { count: summary.damaged },
    );
  }
  // The snapshot itself is on stdout with `--out -`: nothing else may go there.
  if (context.flags.quiet === true || out === "-") return OK;
  const lines = [
    `snapshot ${summary.path}: ${describeCounts(summary.records, summary.countsByKind)}, ${
      formatBytes(summary.bytes)
    }, in ${(summary.durationMs / 1000).toFixed(1)} s`,
    ...summary.deleted.map((path) => `deleted ${path}`),
  ];
  context.output.result(lines.join("\n"), {
    path: summary.path,
    node_id: summary.nodeId,
    created_at: new Date(summary.createdAtMs).toISOString(),
    scope: summary.scope,
    records: summary.records,
    counts_by_kind: summary.countsByKind,
    damaged: summary.damaged,
    bytes: summary.bytes,
    deleted: summary.deleted,
    duration_ms: summary.durationMs,
  });
  return OK;
}

async function runVerify(context: CommandContext, path: string): Promise<number> {
  const summary = await verifySnapshot(path);
  const { header } = summary;
  context.output.result(
    `snapshot ${path} is sound: node ${header.nodeId.toHex()}, created ${
      new Date(header.createdAtMs).toISOString()
    }, scope ${header.scope}, ${describeCounts(summary.records, summary.countsByKind)}`,
    {
      path,
      sound: true,
      version: header.version,
      node_id: header.nodeId.toHex(),
      created_at: new Date(header.createdAtMs).toISOString(),
      scope: header.scope,
      records: summary.records,
      counts_by_kind: summary.countsByKind,
      size_bytes: summary.sizeBytes,
    },
  );
  return OK;
}

async function runImport(context: CommandContext, path: string): Promise<number> {
  const dataDir = context.dataDir();
  const node = await runningNode(dataDir.path);
  let report: ImportReport;
  if (node) {
    // The node reads the file itself, from its own working directory: send the absolute path.
    report = await node.call(controlRoutes.importSnapshot, { path: resolve(path) });
  } else {
    const config = await context.config();
    const progress = progressFor(context, "imported");
    try {
      report = importReport(
        await importSnapshot({
          dataDir,
          config,
          path,
          onProgress: (records, bytes, total) => progress.update(records, bytes, total),
        }),
      );
    } finally {
      progress.finish();
    }
  }
  context.output.result(
    `imported ${path} into ${dataDir.path}: ${report.imported} imported, ${report.unchanged} ` +
      `unchanged, ${report.expired} expired (skipped), ${report.kept_newer} kept newer` +
      (report.refused_full > 0 ? `, ${report.refused_full} refused (store full)` : "") +
      ` (of ${report.records} records)`,
    {
      path,
      data_dir: dataDir.path,
      node_id: report.node_id,
      records: report.records,
      imported: report.imported,
      unchanged: report.unchanged,
      expired: report.expired,
      kept_newer: report.kept_newer,
      refused_full: report.refused_full,
    },
  );
  return report.refused_full > 0 ? 1 : OK;
}

/**
 * How long `import` waits for a running node to answer its status before importing into the
 * data dir instead. A node answers in milliseconds; a hung one is then refused by the data-dir
 * lock after this wait rather than the client's full timeout.
 */
const nodeProbeTimeoutMs = 10_000;

/**
 * The control API of the node running on the data dir, when one answers; else `undefined`, and
 * the import goes to the data dir itself (which refuses, in one line, when the data-dir lock
 * shows a node that does not answer).
 *
 * @throws {ControlApiError} When the node answered with an error (a wrong token, too busy):
 *   it runs, so importing into its data dir is not an option.
 */
async function runningNode(dataDirPath: string): Promise<ControlClient | undefined> {
  let client: ControlClient;
  try {
    client = await ControlClient.fromDataDir(dataDirPath, { timeoutMs: nodeProbeTimeoutMs });
  } catch {
    return undefined;
  }
  try {
    await client.call(controlRoutes.status);
    return client;
  } catch (error) {
    if (error instanceof ControlApiError) throw error;
    return undefined;
  }
}

async function runList(context: CommandContext, directory: string | undefined): Promise<number> {
  const folder = directory ?? join(context.dataDir().path, SNAPSHOTS_FOLDER);
  const listed = await listSnapshots(folder);
  const lines = listed.map((entry) => {
    const size = formatBytes(entry.sizeBytes).padStart(10);
    if (!entry.header) return `unreadable            ${size}  ${entry.path}: ${entry.problem}`;
    const { header } = entry;
    const total = Object.values(header.countsByKind).reduce((sum, count) => sum + count, 0);
    return [
      new Date(header.createdAtMs).toISOString().replace(/\.\d+Z$/, "Z"),
      header.nodeId.toHex().slice(0, 12),
      header.scope.padEnd(6),
      describeCounts(total, header.countsByKind),
      size,
      entry.path,
    ].join("  ");
  });
  context.output.result(
    lines.length > 0 ? lines.join("\n") : `(no snapshots in ${folder})`,
    {
      directory: folder,
      snapshots: listed.map((entry) => ({
        path: entry.path,
        size_bytes: entry.sizeBytes,
        ...(entry.header
          ? {
            created_at: new Date(entry.header.createdAtMs).toISOString(),
            node_id: entry.header.nodeId.toHex(),
            scope: entry.header.scope,
            counts_by_kind: entry.header.countsByKind,
          }
          : { problem: entry.problem }),
      })),
    },
  );
  return OK;
}

/** A progress bar on stderr: only on a terminal, and never with `--json` or `--quiet`. */
function progressFor(context: CommandContext, label: string): Progress {
  const encoder = new TextEncoder();
  return new Progress({
    enabled: Deno.stderr.isTerminal() && !context.global.json && context.flags.quiet !== true,
    write: (text) => {
      let bytes = encoder.encode(text);
      while (bytes.length > 0) bytes = bytes.subarray(Deno.stderr.writeSync(bytes));
    },
    label,
  });
}

function describeCounts(total: number, byKind: Record<string, number>): string {
  const parts = Object.entries(byKind).map(([kind, count]) => `${kind} ${count}`);
  return `${total} records (${parts.join(", ")})`;
}
