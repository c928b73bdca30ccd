/**
 * `rhizome run`: the node daemon, until SIGINT or SIGTERM.
 *
 * @module
 */

import { ControlApi } from "../../api/control_api.ts";
import { MetricsListener } from "../../api/metrics_listener.ts";
import { type Config, type NodeType, parseHostPort } from "../../core/config_schema.ts";
import { UsageError } from "../../core/errors.ts";
import { getLog } from "../../core/log.ts";
import { RhizomeNode } from "../../node/node.ts";
import { type DataDirNote, noteDataDir, undoFailedStart } from "../../node/data_dir/start_undo.ts";
import type { Command, CommandContext } from "../command.ts";
import { isOutputClosed, OK } from "../output.ts";
import { onFatalError } from "../fatal.ts";

const TYPE_FLAGS = ["seed", "full", "light", "mobile"] as const;

async function undoStart(before: DataDirNote): Promise<void> {
  const removed = await undoFailedStart(before);
  if (removed.length > 0) {
    getLog("node").info("removed what the failed start created: {paths}", {
      paths: removed.join(", "),
    });
  }
}

/** Starts a node and serves until a signal or `rhizome stop`. */
export const runCommand: Command = {
  name: "run",
  summary: "Start a node and serve until SIGINT, SIGTERM or 'rhizome stop'",
  usage: "run [--seed|--full|--light|--mobile] [--listen HOST:PORT] [--api HOST:PORT] " +
    "[--metrics HOST:PORT] [--bootstrap URI,...]",
  description: [
    "Starts a node: creates its identity on first start, locks the data directory, picks the",
    "node type (a flag, node.type, or measured resources), opens the record store, listens for",
    "encrypted UDP datagrams, serves the control API on loopback, and joins the network through",
    "the peers it saved last time and the bootstrap contacts (node.bootstrap, RHIZOME_BOOTSTRAP",
    "or --bootstrap; URIs or RHZ1 share strings). Without them it finds the network by itself:",
    "the built-in seeds, a signed DNS list, then nodes heard on the LAN, and logs which worked",
    "(docs/discovery.md); when none answers it starts a new network and keeps looking. SIGINT",
    "or SIGTERM stop it cleanly within 5 seconds. Logs go to stderr. The control API serves",
    "GET /metrics (Prometheus), GET /v1/metrics (JSON) and GET /dashboard to this machine",
    "without the token; --metrics (node.metrics) serves those three alone on another address.",
  ].join("\n"),
  examples: [
    "rhizome run --seed",
    "rhizome run --listen 0.0.0.0:7447 --bootstrap rhz://…@203.0.113.7:7447",
    "deno task start",
  ],
  flags: {
    seed: { type: "boolean", description: "Run as a seed (high availability, large disk)" },
    full: { type: "boolean", description: "Run as a full node (the main workload)" },
    light: { type: "boolean", description: "Run as a light node (limited resources)" },
    mobile: { type: "boolean", description: "Run as a mobile node (DHT client, smallest)" },
    listen: { type: "string", valueName: "HOST:PORT", description: "UDP address (node.listen)" },
    api: { type: "string", valueName: "HOST:PORT", description: "Control API (node.api)" },
    metrics: {
      type: "string",
      valueName: "HOST:PORT",
      description: "Separate metrics listener (node.metrics)",
    },
    bootstrap: {
      type: "string",
      valueName: "URI,...",
      description: "Contacts (URIs or share strings) to join through, comma-separated",
    },
  },
  positionals: { min: 0, max: 0 },
  configOverrides(flags) {
    const overrides = [];
    if (typeof flags.listen === "string") {
      overrides.push({ path: "node.listen", value: flags.listen, origin: "--listen" });
    }
    if (typeof flags.api === "string") {
      overrides.push({ path: "node.api", value: flags.api, origin: "--api" });
    }
    if (typeof flags.metrics === "string") {
      overrides.push({ path: "node.metrics", value: flags.metrics, origin: "--metrics" });
    }
    if (typeof flags.bootstrap === "string") {
      const uris = flags.bootstrap.split(",").map((uri) => uri.trim()).filter((uri) => uri);
      overrides.push({ path: "node.bootstrap", value: uris, origin: "--bootstrap" });
    }
    return overrides;
  },
  async run(context) {
    const chosen = TYPE_FLAGS.filter((type) => context.flags[type] === true);
    if (chosen.length > 1) {
      throw new UsageError(
        `Choose one node type, not ${chosen.map((t) => `--${t}`).join(" and ")}`,
      );
    }
    const flagType: NodeType | undefined = chosen[0];
    const config = await context.config();
    const dataDir = context.dataDir();
    // A start that fails (a port in use) leaves no data dir, identity or store it created.
    const before = await noteDataDir(dataDir.path);
    const log = getLog("node");
    let node: RhizomeNode;
    let api: ControlApi;
    try {
      node = await RhizomeNode.start({ dataDir, config, flagType });
    } catch (error) {
      await undoStart(before);
      throw error;
    }
    try {
      api = await ControlApi.start({
        listen: parseHostPort(config.node.api)!,
        dataDirPath: dataDir.path,
        handlers: node,
        log: getLog("api"),
      });
    } catch (error) {
      await node.stop("the control API cannot start");
      await undoStart(before);
      throw error;
    }
    log.info("control API on {url}", { url: api.url });
    let metrics: MetricsListener | undefined;
    if (config.node.metrics !== "") {
      try {
        metrics = MetricsListener.start({
          listen: parseHostPort(config.node.metrics)!,
          handlers: node,
          log: getLog("api"),
        });
      } catch (error) {
        await api.close();
        await node.stop("the metrics listener cannot start");
        throw error;
      }
    }
    // On a bug that escapes everything: no stale api.json, and the lock released by the stop.
    const forgetFatalCleanup = onFatalError(async () => {
      await Promise.allSettled([api.close(), metrics?.close(), node.stop("fatal error")]);
    });
    const onSignal = (signal: Deno.Signal) => () => void node.stop(`received ${signal}`);
    const listeners = (["SIGINT", "SIGTERM"] as const).map((signal) => {
      const listener = onSignal(signal);
      Deno.addSignalListener(signal, listener);
      return () => Deno.removeSignalListener(signal, listener);
    });
    // SIGHUP (a closing terminal, `systemctl reload`) reloads; it never ends the node silently.
    if (Deno.build.os !== "windows") {
      let reloading = Promise.resolve();
      const onHangup = () => {
        reloading = reloading.then(() => reloadOnHangup(context, config));
      };
      Deno.addSignalListener("SIGHUP", onHangup);
      listeners.push(() => Deno.removeSignalListener("SIGHUP", onHangup));
    }
    try {
      context.output.result(
        `node ${node.nodeId.toHex()} running as ${node.type}; ${node.contact}`,
        {
          node_id: node.nodeId.toHex(),
          node_type: node.type,
          contact: node.contact,
          api: api.url,
          metrics: metrics?.url ?? null,
        },
      );
    } catch (error) {
      // Nobody reads stdout any more: the node serves the network, not its first line.
      if (!isOutputClosed(error)) throw error;
      log.debug("stdout is closed; the node runs on");
    }
    await node.stopped;
    await metrics?.close();
    await api.close();
    forgetFatalCleanup();
    for (const remove of listeners) remove();
    log.debug("exiting");
    return OK;
  },
};

/**
 * What SIGHUP does to a running node: reads the configuration again and applies what can change
 * while it runs, the log settings (`log.level`, `log.format`, `log.lines_per_second_max`); any
 * other setting that changed is named in a warning and takes effect at the next start. A
 * configuration that is now invalid is reported and the one in effect kept. The node keeps
 * running either way: a terminal that closes is no reason to leave the network.
 */
async function reloadOnHangup(context: CommandContext, started: Config): Promise<void> {
  const log = getLog("node");
  log.info("received SIGHUP: reloading the configuration");
  let next: Config;
  try {
    next = (await context.reloadConfig()).config;
  } catch (error) {
    log.error("Cannot reload the configuration, keeping the one in effect: {reason}", {
      reason: error instanceof Error ? error.message.split("\n")[0] : String(error),
    });
    return;
  }
  log.info("reloaded: log level {level}, format {format}", {
    level: next.log.level,
    format: next.log.format,
  });
  const pending = changedSettings(started, next).filter((path) => !path.startsWith("log."));
  if (pending.length > 0) {
    log.warning("changed settings that take effect at the next start: {paths}", {
      paths: pending.join(", "),
    });
  }
}

/** Setting paths compared at most: the configuration has about a hundred. */
const settingsComparedMax = 1_000;

/** The dotted paths of the settings whose values differ between two configurations. */
function changedSettings(before: Config, after: Config): string[] {
  const flat = (config: Config) => {
    const out = new Map<string, string>();
    const walk = (value: unknown, path: string) => {
      if (out.size >= settingsComparedMax) return;
      if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        for (const [key, field] of Object.entries(value)) {
          walk(field, path === "" ? key : `${path}.${key}`);
        }
      } else {
        out.set(path, JSON.stringify(value));
      }
    };
    walk(config, "");
    return out;
  };
  const old = flat(before);
  const now = flat(after);
  const paths = new Set([...old.keys(), ...now.keys()]);
  return [...paths].filter((path) => old.get(path) !== now.get(path)).sort();
}
