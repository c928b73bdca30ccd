// Goal: logging (src/core/log.ts) writes well-formed text and JSON lines, hides records below the
// configured level, and rate-limits each category separately, reporting what it dropped in one
// "suppressed" line. Method: configure logging with an injected `write` that collects lines,
// log through getLog(), and inspect the lines; flushLogging() ends each test so the rate
// limiter's pending summary is written and its state is cleared.
//
// The rate-limit tests log a burst far faster than the one-second window; they do not measure
// time.

import assert from "node:assert/strict";
import {
  configureLogging,
  flushLogging,
  getLog,
  LOG_ROOT,
  type LogSettings,
} from "../../src/core/log.ts";

/** Configures logging into an array and returns it. */
function capture(settings: Partial<LogSettings> = {}): string[] {
  const lines: string[] = [];
  configureLogging({
    level: "info",
    format: "text",
    linesPerSecondMax: 1000,
    ...settings,
    write: (line) => lines.push(line),
  });
  return lines;
}

const textLine =
  /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) ([a-z.]+): (.*)\n$/;

Deno.test("getLog() names loggers below the rhizome category", () => {
  assert.equal(LOG_ROOT, "rhizome");
  const lines = capture();
  try {
    getLog("dht", "rpc").info("sent");
    getLog().info("root");
    assert.equal(textLine.exec(lines[0])?.[3], "rhizome.dht.rpc");
    assert.equal(textLine.exec(lines[1])?.[3], "rhizome");
  } finally {
    flushLogging();
  }
});

Deno.test("text lines show ISO time, level, category and message", () => {
  const lines = capture();
  try {
    const before = Date.now();
    getLog("test").info("node started");
    const after = Date.now();
    assert.equal(lines.length, 1);
    const match = textLine.exec(lines[0]);
    assert.ok(match, `unexpected line shape: ${JSON.stringify(lines[0])}`);
    const [, time, level, category, message] = match;
    const timeMs = Date.parse(time);
    assert.ok(before <= timeMs && timeMs <= after, "the time is the record's");
    assert.equal(level, "INFO ");
    assert.equal(category, "rhizome.test");
    assert.equal(message, "node started");
  } finally {
    flushLogging();
  }
});

Deno.test("text lines append properties the message did not show as key=value", () => {
  const lines = capture();
  try {
    const log = getLog("test");
    log.info("hello {name}", { name: "world", port: 7447, reason: "no route", ok: true });
    log.info("plain", { list: [1, 2], nested: { a: 1 }, error: new Error("boom") });
    log.info("{count} peers", { count: 3 });
    assert.equal(lines.length, 3);
    assert.match(lines[0], / rhizome\.test: hello world port=7447 reason="no route" ok=true\n$/);
    assert.match(lines[1], / rhizome\.test: plain list=\[1,2\] nested=\{"a":1\} error="boom"\n$/);
    assert.match(lines[2], / rhizome\.test: 3 peers\n$/);
  } finally {
    flushLogging();
  }
});

Deno.test("text lines label every level with five characters", () => {
  const lines = capture({ level: "trace" });
  try {
    const log = getLog("test");
    log.trace("t");
    log.debug("d");
    log.info("i");
    log.warning("w");
    log.error("e");
    log.fatal("f");
    assert.deepEqual(
      lines.map((line) => textLine.exec(line)?.[2]),
      ["TRACE", "DEBUG", "INFO ", "WARN ", "ERROR", "FATAL"],
    );
  } finally {
    flushLogging();
  }
});

Deno.test("json lines parse as JSON with the message, category and properties", () => {
  const lines = capture({ format: "json" });
  try {
    getLog("test").info("joined {peers} peers", { peers: 4, network: "main" });
    assert.equal(lines.length, 1);
    assert.ok(lines[0].endsWith("\n"));
    assert.equal(lines[0].trimEnd().includes("\n"), false, "one line per record");
    const record = JSON.parse(lines[0]);
    assert.equal(record.message, "joined 4 peers");
    assert.equal(record.logger, "rhizome.test");
    assert.equal(record.level, "INFO");
    assert.deepEqual(record.fields, { peers: 4, network: "main" });
    assert.ok(!Number.isNaN(Date.parse(record["@timestamp"])));
  } finally {
    flushLogging();
  }
});

Deno.test("records below the configured level are not written", () => {
  const lines = capture({ level: "info" });
  try {
    const log = getLog("test");
    log.debug("hidden");
    log.trace("hidden too");
    log.info("shown");
    log.warning("shown too");
    assert.equal(lines.length, 2);
    assert.match(lines[0], /INFO {2}rhizome\.test: shown\n$/);
    assert.match(lines[1], /WARN {2}rhizome\.test: shown too\n$/);
  } finally {
    flushLogging();
  }
});

Deno.test("debug records are written at level debug, and only errors at level error", () => {
  let lines = capture({ level: "debug" });
  try {
    getLog("test").debug("visible");
    assert.equal(lines.length, 1);
  } finally {
    flushLogging();
  }
  lines = capture({ level: "error" });
  try {
    const log = getLog("test");
    log.warning("hidden");
    log.error("visible");
    assert.equal(lines.length, 1);
    assert.match(lines[0], /ERROR rhizome\.test: visible/);
  } finally {
    flushLogging();
  }
});

Deno.test("a category that logs 20 lines at 5 per second writes 5, then one line saying 15 were suppressed", () => {
  const lines = capture({ linesPerSecondMax: 5 });
  let flushed = false;
  try {
    const log = getLog("test");
    for (let i = 0; i < 20; i++) log.info("line {i}", { i });
    assert.equal(lines.length, 5);
    assert.deepEqual(
      lines.map((line) => textLine.exec(line)?.[4]),
      ["line 0", "line 1", "line 2", "line 3", "line 4"],
    );
    assert.ok(!lines.some((line) => line.includes("suppressed")), "the count waits for the window");

    flushLogging();
    flushed = true;
    assert.equal(lines.length, 6);
    const summary = textLine.exec(lines[5]);
    assert.ok(summary, lines[5]);
    assert.equal(summary[2], "WARN ");
    assert.equal(summary[3], "rhizome.log");
    assert.match(summary[4], /^suppressed 15 lines from rhizome\.test\b/);
  } finally {
    if (!flushed) flushLogging();
  }
});

Deno.test("the rate limit of one category does not affect another", () => {
  const lines = capture({ linesPerSecondMax: 5 });
  let flushed = false;
  try {
    const noisy = getLog("test");
    const quiet = getLog("other");
    for (let i = 0; i < 20; i++) noisy.info("noise");
    for (let i = 0; i < 3; i++) quiet.info("quiet {i}", { i });
    const categories = lines.map((line) => textLine.exec(line)?.[3]);
    assert.equal(categories.filter((c) => c === "rhizome.test").length, 5);
    assert.equal(categories.filter((c) => c === "rhizome.other").length, 3);

    flushLogging();
    flushed = true;
    const summaries = lines.filter((line) => line.includes("suppressed"));
    assert.equal(summaries.length, 1, "only the noisy category has something to report");
    assert.match(summaries[0], /suppressed 15 lines from rhizome\.test\n$/);
    assert.ok(!summaries[0].includes("noise"), "the summary carries no suppressed content");
  } finally {
    if (!flushed) flushLogging();
  }
});

Deno.test("the rate limit counts per category, not per message", () => {
  const lines = capture({ linesPerSecondMax: 5, format: "json" });
  let flushed = false;
  try {
    const log = getLog("test");
    for (let i = 0; i < 4; i++) log.info("first kind");
    for (let i = 0; i < 4; i++) log.warning("second kind {i}", { i });
    assert.equal(lines.length, 5);
    flushLogging();
    flushed = true;
    const summary = JSON.parse(lines[5]);
    assert.equal(summary.logger, "rhizome.log");
    assert.equal(summary.level, "WARN");
    assert.equal(summary.message, "suppressed 3 lines from rhizome.test");
  } finally {
    if (!flushed) flushLogging();
  }
});

Deno.test("nothing is reported as suppressed when every line fits the limit", () => {
  const lines = capture({ linesPerSecondMax: 5 });
  try {
    for (let i = 0; i < 5; i++) getLog("test").info("fits");
  } finally {
    flushLogging();
  }
  assert.equal(lines.length, 5);
  assert.ok(!lines.some((line) => line.includes("suppressed")));
});

Deno.test("configureLogging() replaces the earlier set-up", () => {
  const first = capture();
  const second = capture();
  try {
    getLog("test").info("once");
    assert.equal(first.length, 0);
    assert.equal(second.length, 1);
  } finally {
    flushLogging();
  }
});

// Known bug (reported, not fixed here): the throttling filter sits on the "rhizome" logger, and
// LogTape runs an ancestor's filters before the ancestor's level decides whether a record is
// written. Records below the configured level therefore use up a category's budget: a burst of
// hidden debug lines suppresses the info lines that follow and is counted as "suppressed".
Deno.test({
  name: "records below the configured level do not use up the rate limit",
  fn: () => {
    const lines = capture({ level: "info", linesPerSecondMax: 5 });
    try {
      const log = getLog("test");
      for (let i = 0; i < 20; i++) log.debug("hidden {i}", { i });
      log.info("must be shown");
    } finally {
      flushLogging();
    }
    assert.equal(lines.length, 1, lines.join(""));
    assert.match(lines[0], /INFO {2}rhizome\.test: must be shown\n$/);
  },
});

Deno.test("json lines show an error field by its message, with the stack only at debug level", () => {
  for (const level of ["info", "debug"] as const) {
    const lines = capture({ format: "json", level });
    try {
      getLog("api").error("control API {route} failed: {error}", {
        route: "put",
        error: new TypeError("boom"),
      });
    } finally {
      flushLogging();
    }
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0]);
    assert.equal(line.message, 'control API put failed: "boom"');
    assert.equal(line.fields.error.name, "TypeError");
    assert.equal(line.fields.error.message, "boom");
    assert.equal("stack" in line.fields.error, level === "debug", level);
  }
});
