/**
 * Test helpers that start real `rhizome run` processes on loopback, each with its own data dir,
 * random ports, and exactly the permissions of the `rhizome` task.
 */

import { join } from "node:path";
import { denoCacheEnv, rhizomeRunArgs } from "../scripts/_node_processes.ts";
import { ControlClient } from "../src/api/control_client.ts";
import { controlRoutes } from "../src/api/routes.ts";

const mainPath = new URL("../main.ts", import.meta.url).pathname;

/** Bytes of a node's stderr kept for failure messages (the latest). */
const stderrKeptBytes = 32 * 1024;

/** A running (or stopped) node process. */
export interface NodeProcess {
  /** Its data directory. */
  dataDir: string;
  /** Its node ID (hex). */
  nodeId: string;
  /** Its contact URI. */
  contact: string;
  /** The child process. */
  child: Deno.ChildProcess;
  /** Its control API client. */
  client(): Promise<ControlClient>;
  /** The latest lines it logged. */
  stderr(): string;
  /** Resolves with the exit code once it ended. */
  exited: Promise<number>;
}

/**
 * Starts `rhizome run --json` and waits for its first stdout line (node ID and contact).
 *
 * @param dataDir The node's data directory.
 * @param args More flags (`--bootstrap …`).
 * @param timeoutMs How long to wait for it to come up.
 * @param launcher A command that runs the node (`["prlimit", "--nofile=256"]`); none by default.
 * @returns The running node.
 */
export async function startNode(
  dataDir: string,
  args: string[] = [],
  timeoutMs = 20_000,
  launcher: string[] = [],
): Promise<NodeProcess> {
  const program = [...launcher, Deno.execPath()];
  const child = new Deno.Command(program[0], {
    args: [...program.slice(1), ...rhizomeRunArgs(mainPath, dataDir, "debug"), ...args],
    env: { NO_COLOR: "1", HOME: dataDir, PATH: Deno.env.get("PATH") ?? "", ...denoCacheEnv() },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let logged = "";
  const stderrDone = (async () => {
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      logged = (logged + text).slice(-stderrKeptBytes);
    }
  })();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const exited = (async () => {
    const status = await child.status;
    await stderrDone.catch(() => {});
    return status.code;
  })();
  let first = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`node did not start:\n${logged}`)), timeoutMs);
    });
    while (!first.includes("\n")) {
      const { value, done } = await Promise.race([lines.read(), timeout]);
      if (done) throw new Error(`node exited before starting:\n${logged}`);
      first += value;
    }
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await lines.cancel().catch(() => {});
    await exited;
    throw error;
  } finally {
    clearTimeout(timer);
  }
  // The rest of stdout is drained so the child never blocks on a full pipe.
  const drained = (async () => {
    while (!(await lines.read()).done) { /* nothing more is expected */ }
  })().catch(() => {});
  const started = JSON.parse(first.slice(0, first.indexOf("\n")));
  return {
    dataDir,
    nodeId: started.node_id,
    contact: started.contact,
    child,
    client: () => ControlClient.fromDataDir(dataDir),
    stderr: () => logged,
    exited: exited.then(async (code) => {
      await drained;
      return code;
    }),
  };
}

/**
 * Kills a node at once (SIGKILL) and waits for it to end.
 *
 * @param node The node.
 */
export async function killNode(node: NodeProcess): Promise<void> {
  try {
    node.child.kill("SIGKILL");
  } catch {
    // Already gone.
  }
  await node.exited;
}

/**
 * The data directory of node `index` under `root`.
 *
 * @param root A temporary directory.
 * @param index The node's index.
 * @returns The path.
 */
export function nodeDir(root: string, index: number): string {
  return join(root, `node-${index}`);
}

/**
 * Polls `condition` every 100 ms until it holds or `timeoutMs` passes.
 *
 * @param what What is awaited, for the error.
 * @param condition The check.
 * @param timeoutMs The limit.
 */
export async function waitFor(
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Starts `count` real nodes under `root`: node 0 first, the others bootstrapping from it 100 ms
 * apart, then waits until every one knows `contactsMin` peers. The nodes are pushed onto `nodes`
 * as they start, so the caller's cleanup kills them even when this throws.
 *
 * @param root A temporary directory.
 * @param count How many nodes.
 * @param nodes Where the started nodes go.
 * @param argsOf Extra `rhizome run` arguments of node `index` (after node 0).
 * @param contactsMin Peers each must know before this returns.
 */
export async function startNetwork(
  root: string,
  count: number,
  nodes: NodeProcess[],
  argsOf: (index: number) => string[] = () => [],
  contactsMin = 5,
): Promise<void> {
  nodes.push(await startNode(nodeDir(root, 0)));
  const rest = [];
  for (let i = 1; i < count; i++) {
    rest.push(startNode(nodeDir(root, i), ["--bootstrap", nodes[0].contact, ...argsOf(i)], 60_000));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  nodes.push(...await Promise.all(rest));
  for (const [index, node] of nodes.entries()) {
    await waitFor(`node ${index} to know peers`, async () => {
      const status = await (await node.client()).call(controlRoutes.status);
      return status.contacts >= contactsMin;
    }, 30_000);
  }
}
