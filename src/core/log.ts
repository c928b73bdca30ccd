/**
 * Structured logging on LogTape: text lines for people, JSON lines for machines, always on stderr
 * (stdout belongs to command output). Each category may write `lines_per_second_max` lines a
 * second; the excess is dropped and then reported in one "suppressed" line, so a flood of bad
 * datagrams cannot fill a disk with logs.
 *
 * @module
 */

import {
  compareLogLevel,
  configureSync,
  disposeSync,
  getJsonLinesFormatter,
  getLogger,
  getThrottlingFilter,
  type LogRecord,
} from "@logtape/logtape";
import type { LogFormat, LogLevel } from "./config_schema.ts";

/** The root category; every Rhizome logger sits below it. */
export const LOG_ROOT = "rhizome";

/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/**
 * A logger for one category. Messages may name fields in braces (`"peer {peer} joined"`); fields
 * the message does not name are appended as `key=value`.
 */
export interface Log {
  /** Logs at level trace. */
  trace(message: string, fields?: LogFields): void;
  /** Logs at level debug. */
  debug(message: string, fields?: LogFields): void;
  /** Logs at level info. */
  info(message: string, fields?: LogFields): void;
  /** Logs at level warning. */
  warning(message: string, fields?: LogFields): void;
  /** Logs at level error. */
  error(message: string, fields?: LogFields): void;
  /** Logs at level fatal. */
  fatal(message: string, fields?: LogFields): void;
}

/** How to log. */
export interface LogSettings {
  /** Lowest level written. */
  level: LogLevel;
  /** `text` or `json`. */
  format: LogFormat;
  /** Lines per second each category may write before lines are suppressed. */
  linesPerSecondMax: number;
  /**
   * Where finished lines go.
   * @default a synchronous write to stderr, so nothing is lost when the process exits
   */
  write?: (line: string) => void;
}

const jsonFormatter = getJsonLinesFormatter({
  categorySeparator: ".",
  message: "rendered",
  properties: "nest:fields",
});

/**
 * Sets up logging for the whole process, replacing any earlier set-up.
 *
 * @param settings Level, format and rate limit.
 */
export function configureLogging(settings: LogSettings): void {
  const write = settings.write ?? writeStderr;
  const withStacks = compareLogLevel(settings.level, "debug") <= 0;
  const format = settings.format === "json"
    ? (record: LogRecord) => jsonFormatter(plainRecord(record, withStacks))
    : formatText;
  const summaryLog = getLogger([LOG_ROOT, "log"]);
  configureSync({
    reset: true,
    sinks: { stderr: (record: LogRecord) => write(format(record)) },
    filters: {
      // Filters run before the category's level applies; without this one, hidden debug lines
      // would use up the rate limit of the lines that are shown.
      level: (record) => compareLogLevel(record.level, settings.level) >= 0,
      throttle: getThrottlingFilter({
        limit: settings.linesPerSecondMax,
        windowMs: 1000,
        key: (record) => record.category.join("."),
        summary: {
          // Only the count: the suppressed lines' own fields may carry peer-supplied text.
          logger: { warning: (message: string) => summaryLog.warning(message) },
          level: "warning",
          message: (summary) => `suppressed ${summary.suppressed} lines from ${summary.key}`,
        },
      }),
    },
    loggers: [
      {
        category: [LOG_ROOT],
        lowestLevel: settings.level,
        sinks: ["stderr"],
        filters: ["level", "throttle"],
      },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** Writes out what the rate limiter still holds (suppression counts). Call before exiting. */
export function flushLogging(): void {
  disposeSync();
}

/**
 * A logger for one part of Rhizome.
 *
 * @param category The path below `rhizome`, for example `"cli"` or `"dht", "rpc"`.
 * @returns The logger; it writes nothing until {@link configureLogging} ran.
 */
export function getLog(...category: string[]): Log {
  return getLogger([LOG_ROOT, ...category]);
}

/**
 * The record as the JSON formatter should see it: the message rendered as in text lines (the
 * formatter would print an Error as `{}`), and each Error field as its name and message, with
 * its stack only when debug lines are shown, so an expected failure is one short line.
 */
function plainRecord(record: LogRecord, withStacks: boolean): LogRecord {
  const properties: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record.properties)) {
    properties[key] = value instanceof Error
      ? {
        name: value.name,
        message: value.message,
        ...(withStacks && value.stack !== undefined ? { stack: value.stack } : {}),
      }
      : value;
  }
  return { ...record, message: [renderMessage(record)], properties };
}

function renderMessage(record: LogRecord): string {
  let message = "";
  for (let i = 0; i < record.message.length; i++) {
    const part = record.message[i];
    message += i % 2 === 0 ? String(part) : formatValue(part);
  }
  return message;
}

const levelLabels: Record<string, string> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO ",
  warning: "WARN ",
  error: "ERROR",
  fatal: "FATAL",
};

/**
 * `2026-11-25T04:35:05.123Z INFO  rhizome.cli: message key=value`: the properties a message
 * template did not already show are appended as `key=value`.
 */
function formatText(record: LogRecord): string {
  const message = renderMessage(record);
  const template = typeof record.rawMessage === "string"
    ? record.rawMessage
    : record.rawMessage.join("");
  let fields = "";
  for (const [key, value] of Object.entries(record.properties)) {
    if (!template.includes(`{${key}}`)) fields += ` ${key}=${formatValue(value)}`;
  }
  const time = new Date(record.timestamp).toISOString();
  return `${time} ${levelLabels[record.level]} ${record.category.join(".")}: ${message}${fields}\n`;
}

function formatValue(value: unknown): string {
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === "object" && value !== null && !("toJSON" in value)) {
    return JSON.stringify(value) ?? String(value);
  }
  return String(value);
}

const encoder = new TextEncoder();

/** Writes all of `line` to stderr, synchronously: a partial write is continued, never dropped. */
export function writeStderr(line: string): void {
  // Whoever read stderr went away (`rhizome run 2>&1 | head`): the lines have nobody to reach,
  // and a node must not stop over its log.
  if (stderrClosed) return;
  let bytes = encoder.encode(line);
  try {
    while (bytes.length > 0) bytes = bytes.subarray(Deno.stderr.writeSync(bytes));
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
    stderrClosed = true;
  }
}

/** Set once a write to stderr found its reader gone; later lines are dropped. */
let stderrClosed = false;
