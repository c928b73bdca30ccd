/**
 * The Dockerfile. No container engine runs here, so the image is not built; instead the file is
 * linted (every instruction known and well-formed, pinned bases, a non-root user, the data volume,
 * the ports, a health check, exec forms) and then acted out on this machine: the build stage's
 * COPY and RUN steps in a temporary directory standing for the image's root (offline, with Deno's
 * cache as the builder has it), then the final stage's ENTRYPOINT and CMD with its ENV and
 * WORKDIR, an empty DENO_DIR and no network; its HEALTHCHECK command must answer 0 while the node
 * runs, the STOPSIGNAL must stop it with status 0, and the health check must then fail.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import denoConfig from "../../deno.json" with { type: "json" };
import { permissionFlags } from "../../scripts/compile.ts";
import { withTempDir } from "../_rhizome.ts";

const root = new URL("../..", import.meta.url).pathname;
const dockerfileText = await Deno.readTextFile(join(root, "Dockerfile"));
const dockerignoreText = await Deno.readTextFile(join(root, ".dockerignore"));

/** One instruction: its keyword, its argument text, the line it starts on. */
interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Instructions a Dockerfile may hold (Docker's reference). */
const KEYWORDS = new Set([
  "FROM",
  "RUN",
  "CMD",
  "LABEL",
  "EXPOSE",
  "ENV",
  "ADD",
  "COPY",
  "ENTRYPOINT",
  "VOLUME",
  "USER",
  "WORKDIR",
  "ARG",
  "ONBUILD",
  "STOPSIGNAL",
  "HEALTHCHECK",
  "SHELL",
]);

/** Splits a Dockerfile into instructions: comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split("\n").forEach((raw, index) => {
    const line = raw.trimEnd();
    if (pending === undefined && (line.trim() === "" || line.trimStart().startsWith("#"))) return;
    if (pending !== undefined && line.trimStart().startsWith("#")) return;
    const continued = line.endsWith("\\");
    const part = continued ? line.slice(0, -1) : line;
    pending = pending === undefined
      ? { text: part, line: index + 1 }
      : { text: `${pending.text} ${part.trim()}`, line: pending.line };
    if (continued) return;
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(pending.text);
    assert.ok(match, `line ${pending.line}: not an instruction: ${pending.text}`);
    instructions.push({ keyword: match[1], args: match[2].trim(), line: pending.line });
    pending = undefined;
  });
  assert.equal(pending, undefined, "the file ends inside a continued line");
  return instructions;
}

/** The JSON array of an exec-form instruction; fails on the shell form. */
function execForm(instruction: Instruction): string[] {
  const text = instruction.keyword === "HEALTHCHECK"
    ? instruction.args.replace(/^(--[a-z-]+=\S+\s+)*CMD\s+/, "")
    : instruction.args;
  const parsed = JSON.parse(text);
  assert.ok(
    Array.isArray(parsed) && parsed.every((word) => typeof word === "string"),
    `line ${instruction.line}: ${instruction.keyword} must be a JSON array of strings`,
  );
  return parsed;
}

/** `KEY=value` pairs of an ENV instruction (values without spaces or quotes here). */
function envPairs(instruction: Instruction): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const word of instruction.args.split(/\s+/)) {
    const [key, value] = word.split("=");
    assert.ok(value !== undefined, `line ${instruction.line}: ENV ${word} needs KEY=value`);
    pairs[key] = value;
  }
  return pairs;
}

const instructions = parseDockerfile(dockerfileText);
const stages: Instruction[][] = [];
for (const instruction of instructions) {
  if (instruction.keyword === "FROM") stages.push([]);
  stages.at(-1)?.push(instruction);
}
const [buildStage, finalStage] = stages;
const final = (keyword: string) => finalStage.filter((i) => i.keyword === keyword);

Deno.test("the Dockerfile is well-formed: known instructions, pinned bases, exec forms", () => {
  for (const instruction of instructions) {
    assert.ok(
      KEYWORDS.has(instruction.keyword),
      `line ${instruction.line}: ${instruction.keyword}`,
    );
    assert.equal(instruction.keyword, instruction.keyword.toUpperCase());
    // COPY takes only the flags used here; a misspelt one would fail the build.
    if (instruction.keyword === "COPY") {
      for (const flag of instruction.args.split(/\s+/).filter((word) => word.startsWith("--"))) {
        assert.match(flag, /^--(from=\w+|chown=\d+:\d+)$/, `line ${instruction.line}`);
      }
    }
  }
  assert.equal(instructions[0].keyword, "ARG", "the Deno version is one ARG before every FROM");
  assert.match(instructions[0].args, /^DENO_VERSION=2\.9\.\d+$/);
  assert.equal(instructions[0].args.split("=")[1], Deno.version.deno, "the tested Deno version");
  assert.equal(stages.length, 2, "a build stage and a final stage");
  for (const stage of stages) {
    assert.match(stage[0].args, /^denoland\/deno:[a-z]+-\$\{DENO_VERSION\}( AS \w+)?$/);
  }
  assert.ok(!instructions.some((i) => i.keyword === "ADD"), "COPY, never ADD");
  for (const keyword of ["ENTRYPOINT", "CMD", "HEALTHCHECK", "USER", "VOLUME", "STOPSIGNAL"]) {
    assert.equal(final(keyword).length, 1, `one ${keyword} in the final stage`);
  }
  assert.deepEqual(final("CMD").map(execForm), [["run"]]);
  assert.ok(!finalStage.some((i) => i.keyword === "RUN"), "the distroless stage has no shell");
});

Deno.test("the image runs rhizome unprivileged with the task's permissions, a volume and a health check", () => {
  const entrypoint = execForm(final("ENTRYPOINT")[0]);
  assert.deepEqual(entrypoint.slice(0, 3), ["deno", "run", "--node-modules-dir=manual"]);
  assert.deepEqual(
    entrypoint.slice(3, -1),
    permissionFlags(denoConfig.tasks.rhizome),
    "exactly the rhizome task's permissions",
  );
  assert.equal(entrypoint.at(-1), "/app/main.ts");
  const health = final("HEALTHCHECK")[0];
  for (const flag of health.args.split(/\s+CMD\s+/)[0].split(/\s+/)) {
    assert.match(flag, /^--(interval|timeout|start-period|start-interval)=\d+s$|^--retries=\d+$/);
  }
  assert.match(health.args, /--interval=\d+s/);
  assert.match(health.args, /--timeout=\d+s/);
  assert.match(health.args, /--start-period=\d+s/);
  assert.deepEqual(execForm(health), [...entrypoint, "status", "--data-dir", "/data"]);
  const user = final("USER")[0].args;
  assert.ok(!/^(0|root)(:|$)/.test(user), `USER ${user} is not root`);
  assert.deepEqual(JSON.parse(final("VOLUME")[0].args), ["/data"]);
  const env = Object.assign({}, ...final("ENV").map(envPairs));
  assert.equal(env.RHIZOME_DATA_DIR, "/data");
  assert.equal(env.DENO_NO_UPDATE_CHECK, "1");
  const exposed = final("EXPOSE").flatMap((i) => i.args.split(/\s+/));
  for (const port of exposed) assert.match(port, /^\d{1,5}\/(tcp|udp|sctp)$/);
  assert.deepEqual(exposed.sort(), ["7447/tcp", "7447/udp"]);
  assert.equal(final("STOPSIGNAL")[0].args, "SIGTERM");
  // /data and DENO_DIR belong to the user the node runs as.
  const owned = final("COPY").filter((i) => i.args.includes(`--chown=${user}`));
  assert.deepEqual(owned.map((i) => i.args.split(/\s+/).at(-1)).sort(), ["/data", "/deno-dir"]);
});

Deno.test("everything the build copies exists and is not left out by .dockerignore", async () => {
  const allowed = dockerignoreText.split("\n").filter((line) => line.startsWith("!"))
    .map((line) => line.slice(1).replace(/\/$/, ""));
  assert.ok(dockerignoreText.split("\n").includes("*"), ".dockerignore starts from nothing");
  for (const copy of buildStage.filter((i) => i.keyword === "COPY")) {
    const sources = copy.args.split(/\s+/).filter((word) => !word.startsWith("--")).slice(0, -1);
    for (const source of sources) {
      await Deno.stat(join(root, source));
      assert.ok(allowed.includes(source), `${source} is in the build context`);
    }
  }
});

/** Absolute paths in the image, and where the acted-out build puts them. */
function imagePaths(rootDir: string): (text: string) => string {
  return (text) =>
    text.replace(/(^|[\s"'=])\/(app|data|deno-dir|out)(?=$|[\s/"'])/g, `$1${rootDir}/$2`);
}

Deno.test("the Dockerfile's build and run steps, acted out here, start a node its health check sees", async () => {
  await withTempDir(async (imageRoot) => {
    const mapPath = imagePaths(imageRoot);
    const offline = {
      NO_COLOR: "1",
      HTTP_PROXY: "http://127.0.0.1:9",
      HTTPS_PROXY: "http://127.0.0.1:9",
      NO_PROXY: "127.0.0.1,localhost",
    };
    const deno = Deno.execPath();
    // The build stage: WORKDIR, COPY from the context, RUN through sh.
    let workdir = "/";
    for (const step of buildStage.slice(1)) {
      if (step.keyword === "WORKDIR") {
        workdir = mapPath(step.args);
        await Deno.mkdir(workdir, { recursive: true });
      } else if (step.keyword === "COPY") {
        const words = step.args.split(/\s+/);
        const destination = words.at(-1)!;
        const target = destination.startsWith("/")
          ? mapPath(destination)
          : join(workdir, destination);
        for (const source of words.slice(0, -1)) {
          const copied = await new Deno.Command("cp", {
            args: ["-R", join(root, source), target],
          }).output();
          assert.ok(copied.success, `COPY ${source}`);
        }
      } else if (step.keyword === "RUN") {
        const script = mapPath(step.args).replaceAll(/(^|&&\s*)deno /g, `$1"${deno}" `);
        const ran = await new Deno.Command("sh", {
          args: ["-c", script],
          cwd: workdir,
          env: offline,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.ok(ran.success, `RUN failed: ${new TextDecoder().decode(ran.stderr)}`);
      }
    }
    await Deno.stat(join(imageRoot, "app", "node_modules", "lmdb"));
    // The final stage's directories, its environment and working directory.
    for (const directory of ["data", "deno-dir"]) {
      await Deno.mkdir(join(imageRoot, directory), { recursive: true });
    }
    const env: Record<string, string> = Object.fromEntries(
      Object.entries(Object.assign({}, ...final("ENV").map(envPairs)) as Record<string, string>)
        .map(([key, value]) => [key, mapPath(value)]),
    );
    const runEnv = { ...offline, ...env, HOME: imageRoot, PATH: Deno.env.get("PATH") ?? "" };
    const cwd = mapPath(final("WORKDIR")[0].args);
    const image = (words: string[]) => words.map(mapPath).map((w) => w === "deno" ? deno : w);
    const entrypoint = image(execForm(final("ENTRYPOINT")[0]));
    const cmd = execForm(final("CMD")[0]);
    const health = image(execForm(final("HEALTHCHECK")[0]));
    const check = async () => {
      const result = await new Deno.Command(health[0], {
        args: health.slice(1),
        cwd,
        env: runEnv,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: result.code, stdout: new TextDecoder().decode(result.stdout) };
    };

    const node = new Deno.Command(entrypoint[0], {
      // Loopback and free ports in the test; the image listens on 0.0.0.0:7447.
      args: [
        ...entrypoint.slice(1),
        ...cmd,
        "--json",
        "--listen",
        "127.0.0.1:0",
        "--api",
        "127.0.0.1:0",
      ],
      cwd,
      env: runEnv,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(node.stderr).text();
    try {
      const lines = node.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let first = "";
      for (let reads = 0; reads < 100 && !first.includes("\n"); reads++) {
        const { value, done } = await lines.read();
        if (done) break;
        first += value;
      }
      assert.ok(first.includes("\n"), `the node started: ${first}`);
      const started = JSON.parse(first);
      const healthy = await check();
      assert.equal(healthy.code, 0, "HEALTHCHECK passes while the node runs");
      assert.ok(healthy.stdout.includes(started.node_id.slice(0, 8)), healthy.stdout);
      node.kill(final("STOPSIGNAL")[0].args as Deno.Signal);
      while (!(await lines.read()).done) { /* drained */ }
      assert.equal((await node.status).code, 0, "STOPSIGNAL stops the node cleanly");
      const log = await stderr;
      assert.ok(!log.includes("Download"), "nothing fetched at run time");
      assert.notEqual((await check()).code, 0, "HEALTHCHECK fails once the node is gone");
      await Deno.stat(join(imageRoot, "data", "records.mdb"));
    } finally {
      try {
        node.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await node.status;
      await stderr;
    }
  });
});
