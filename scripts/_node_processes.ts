/**
 * Starting and stopping the `rhizome run` processes the network scripts drive (bench_network,
 * bench_flood, churn_network): each node on loopback with random ports, its own data dir and
 * exactly the permissions of the `rhizome` task; every child tracked so one call kills them all.
 */

import denoConfig from "../deno.json" with { type: "json" };
import { dirname, join } from "node:path";
import { ControlClient } from "../src/api/control_client.ts";
import { permissionFlags } from "./compile.ts";

/** This checkout's main.ts, the node the scripts start unless told otherwise. */
export const ownMainPath = new URL("../main.ts", import.meta.url).pathname;

/** Bytes of each node's stderr kept for failure messages (the latest). */
const stderrKeptBytes = 16 * 1024;
/** Bytes of that stderr appended to a start failure's message. */
const failureLogBytes = 2000;

/**
 * `promise`, or a rejection naming `what` after `ms`.
 *
 * @param what What is awaited, for the error.
 * @param ms The limit.
 * @param promise The awaited work.
 * @returns Its value.
 */
export async function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sends `name` to a child, ignoring one that is already gone.
 *
 * @param proc The child.
 * @param name The signal.
 */
export function signalChild(proc: Deno.ChildProcess, name: Deno.Signal = "SIGKILL"): void {
  try {
    proc.kill(name);
  } catch {
    // Already gone.
  }
}

/**
 * The environment entry that keeps a node process on this process's Deno cache. A node runs with
 * `HOME` set to its data dir (so nothing of the caller's home leaks in), and Deno's cache defaults
 * to `$HOME/.cache/deno`: each node would transpile the program again into its data dir, 10 MiB
 * that a disk-full test counted as the node's own and a slower start for every process.
 *
 * @returns `{ DENO_DIR }` naming the cache this process uses.
 */
export function denoCacheEnv(): { DENO_DIR: string } {
  const explicit = Deno.env.get("DENO_DIR");
  if (explicit) return { DENO_DIR: explicit };
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME") ?? "/nonexistent";
  return { DENO_DIR: xdg ? join(xdg, "deno") : join(home, ".cache", "deno") };
}

/**
 * The arguments of `deno` that run `rhizome run --json` on loopback with random ports and the
 * `rhizome` task's permissions; more flags may follow.
 *
 * @param mainPath The main.ts to run.
 * @param dataDir The node's data directory.
 * @param logLevel Its log level.
 * @returns The arguments, from `run` on.
 */
export function rhizomeRunArgs(mainPath: string, dataDir: string, logLevel: string): string[] {
  return [
    "run",
    ...permissionFlags(denoConfig.tasks.rhizome),
    mainPath,
    "run",
    "--json",
    "--data-dir",
    dataDir,
    "--listen",
    "127.0.0.1:0",
    "--api",
    "127.0.0.1:0",
    "--log-level",
    logLevel,
  ];
}

/** A started node process. */
export interface NodeProcess {
  /** Its data directory. */
  dataDir: string;
  /** Its node ID (hex). */
  nodeId: string;
  /** Its contact URI. */
  contact: string;
  /** The child process. */
  proc: Deno.ChildProcess;
  /** Its control API client. */
  client: ControlClient;
  /** The latest lines it logged. */
  stderr(): string;
  /** Resolves with the exit code once it ended. */
  exited: Promise<number>;
}

/** How to start one node. */
export interface NodeStart {
  /** The node in messages: "node 3", "a node". */
  label: string;
  /** Its data directory. */
  dataDir: string;
  /** More flags (`--bootstrap …`). */
  args: string[];
  /** Longest it may take to print its contact. */
  startTimeoutMs: number;
  /** Its control API client's timeout per call. */
  clientTimeoutMs: number;
  /** The main.ts to run; this checkout's by default. */
  mainPath?: string;
  /** More environment variables. */
  env?: Record<string, string>;
}

/** The children a script started, so the cleanup can find them all. */
export class ChildProcesses {
  readonly #children: Deno.ChildProcess[] = [];
  /** Set when the cleanup starts: no child may be started after it. */
  #shuttingDown = false;

  /**
   * Spawns `command` and tracks the child.
   *
   * @param what The child in the error when shutting down.
   * @param command The command.
   * @returns The child.
   */
  spawn(what: string, command: Deno.Command): Deno.ChildProcess {
    if (this.#shuttingDown) throw new Error(`not starting ${what}: shutting down`);
    const proc = command.spawn();
    this.#children.push(proc);
    return proc;
  }

  /**
   * Starts `rhizome run --json` and waits for its first stdout line (node ID and contact) and
   * its control API; on failure the child is killed and the error carries its last log lines.
   *
   * @param start How to start it.
   * @returns The running node.
   */
  async startNode(start: NodeStart): Promise<NodeProcess> {
    const { label, dataDir } = start;
    const mainPath = start.mainPath ?? ownMainPath;
    const proc = this.spawn(
      label,
      new Deno.Command(Deno.execPath(), {
        args: [...rhizomeRunArgs(mainPath, dataDir, "info"), ...start.args],
        cwd: dirname(mainPath),
        env: {
          NO_COLOR: "1",
          HOME: dataDir,
          PATH: Deno.env.get("PATH") ?? "",
          ...denoCacheEnv(),
          ...start.env,
        },
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }),
    );
    let logged = "";
    const stderrDone = (async () => {
      for await (const text of proc.stderr.pipeThrough(new TextDecoderStream())) {
        logged = (logged + text).slice(-stderrKeptBytes);
      }
    })().catch(() => {});
    const lines = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const exited = (async () => {
      const status = await proc.status;
      await stderrDone;
      return status.code;
    })();
    const failed = (error: unknown) => {
      signalChild(proc);
      return new Error(`${(error as Error).message}\n${logged.slice(-failureLogBytes)}`);
    };
    let first = "";
    const readFirst = async () => {
      while (!first.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`${label} exited before starting:\n${logged}`);
        first += value;
      }
    };
    try {
      await within(`${label} to start`, start.startTimeoutMs, readFirst());
    } catch (error) {
      throw failed(error);
    }
    // The rest of stdout is drained so the child never blocks on a full pipe.
    (async () => {
      while (!(await lines.read()).done) { /* nothing more is expected */ }
    })().catch(() => {});
    const started = JSON.parse(first.slice(0, first.indexOf("\n")));
    const client = await ControlClient.fromDataDir(dataDir, { timeoutMs: start.clientTimeoutMs })
      .catch((error) => {
        throw failed(error);
      });
    return {
      dataDir,
      nodeId: started.node_id,
      contact: started.contact,
      proc,
      client,
      stderr: () => logged,
      exited,
    };
  }

  /** Kills every child at once, without waiting: the last resort before exiting. */
  killAllNow(): void {
    this.#shuttingDown = true;
    for (const proc of this.#children) signalChild(proc);
  }

  /**
   * Kills every child started and waits for them to end; no child may start afterwards.
   *
   * @param timeoutMs Longest to wait.
   * @returns Rejects when some child did not end in time.
   */
  async killAll(timeoutMs = 10_000): Promise<void> {
    this.killAllNow();
    const children = this.#children.splice(0);
    await within(
      "the children to end",
      timeoutMs,
      Promise.all(children.map((proc) => proc.status)),
    );
  }
}

/** What {@link withCleanUp} needs. */
export interface CleanUp {
  /** The children to kill. */
  processes: ChildProcesses;
  /** The temporary directory to remove. */
  root: string;
  /** After this long the children are killed and the script exits with status 1. */
  overallMs: number;
  /** The progress line when that happens. */
  overallLine: string;
  /** Prints a progress line. */
  progress: (line: string) => void;
}

/**
 * Runs `work`; when it ends, on SIGINT or SIGTERM (then exit status 130) and after
 * `overallMs` as a last resort (then 1), kills every child and removes the temporary directory.
 *
 * @param cleanUp The children, the directory and the limit.
 * @param work The script's work.
 * @returns What `work` returns.
 */
export async function withCleanUp<T>(cleanUp: CleanUp, work: () => Promise<T>): Promise<T> {
  const { processes, root, progress } = cleanUp;
  const clean = async () => {
    await processes.killAll().catch((error) => progress(String(error)));
    await Deno.remove(root, { recursive: true }).catch(() => {});
  };
  const onSignal = () => {
    progress("interrupted: killing the nodes");
    clean().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  // A last resort: whatever hangs, the children die and the temp dirs go.
  const watchdog = setTimeout(() => {
    progress(cleanUp.overallLine);
    clean().finally(() => Deno.exit(1));
  }, cleanUp.overallMs);
  try {
    return await work();
  } finally {
    clearTimeout(watchdog);
    progress("killing the nodes and removing their data dirs");
    await clean();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}
