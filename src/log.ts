/**
 * @module
 * The process's log: `text` lines (`<ISO time> pvflow: <message>`) or, with
 * `PVFLOW_LOG_FORMAT=json`, one JSON object per line: `{"time", "level", "msg", ...fields}`.
 * Messages are written by their callers with secrets already redacted (`redactUrl`); fields carry
 * the same facts in structured form (the text format drops them: its message says it all). The
 * job logs plain lines, so their level and fields are read from the line ({@link levelOf},
 * {@link fieldsOf}).
 */
import { inspect } from "node:util";
import type { LogFormat } from "./config.ts";

export type LogLevel = "info" | "warn" | "error";

/** Structured facts of one log line. */
export type LogFields = Record<string, string | number | boolean | null>;

/** Keys a field cannot take over. */
const RESERVED = new Set(["time", "level", "msg"]);

/** One log line (without its newline): text, or a JSON object whose keys start with time, level, msg. */
export function formatLogLine(format: LogFormat, level: LogLevel, msg: string, fields: LogFields = {}, now = new Date()): string {
  if (format === "text") return `${now.toISOString()} pvflow: ${msg}`;
  const o: Record<string, unknown> = { time: now.toISOString(), level, msg };
  for (const [k, v] of Object.entries(fields)) if (!RESERVED.has(k)) o[k] = v;
  // JSON.stringify escapes newlines (and lone surrogates): always exactly one line.
  return JSON.stringify(o);
}

/** The level of a line the job logged: failures are errors, retries and recreated consumers warnings. */
export function levelOf(line: string): LogLevel {
  if (/\bFAILED\b|\bfailed\b|\bcrashed\b|\bexiting now\b/.test(line)) return "error";
  if (/\bretrying\b|\bwaiting for\b|\bcannot\b|\brecreating\b|\bRESTARTING\b|\bagain\b/.test(line)) return "warn";
  return "info";
}

const JOB_STATES = ["CREATED", "RESTORING", "RUNNING", "RESTARTING", "STOPPING", "STOPPED", "FAILED"];

/** The facts a job line names: its checkpoint, split, subtask, or the state it reports. */
export function fieldsOf(line: string): LogFields {
  const f: LogFields = {};
  const state = /^([A-Z]+)(?::|$)/.exec(line)?.[1];
  if (state && JOB_STATES.includes(state)) f.state = state;
  const checkpoint = /\bcheckpoint (\d+)\b/.exec(line);
  if (checkpoint) f.checkpointId = Number(checkpoint[1]);
  const split = /\bsplit (\S+?):/.exec(line);
  if (split) f.split = split[1];
  const subtask = /\b(source|count)(?: subtask)? (\d+)\b/.exec(line);
  if (subtask) f.subtask = `${subtask[1]} ${subtask[2]}`;
  return f;
}

/**
 * The original `console.error`, kept before {@link Logger.captureConsole} replaces it: it writes
 * synchronously, so a line logged just before `process.exit` is not lost.
 */
const STDERR = console.error.bind(console);

/** Writes log lines in one format to one sink (stderr by default). */
export class Logger {
  readonly format: LogFormat;
  #write: (line: string) => void;

  constructor(format: LogFormat, write: (line: string) => void = STDERR) {
    this.format = format;
    this.#write = write;
  }

  info(msg: string, fields?: LogFields): void {
    this.#write(formatLogLine(this.format, "info", msg, fields));
  }

  warn(msg: string, fields?: LogFields): void {
    this.#write(formatLogLine(this.format, "warn", msg, fields));
  }

  error(msg: string, fields?: LogFields): void {
    this.#write(formatLogLine(this.format, "error", msg, fields));
  }

  /** A line the job logged: level and fields read from it. */
  job(line: string): void {
    this.#write(formatLogLine(this.format, levelOf(line), line, fieldsOf(line)));
  }

  /**
   * The one line that ends startup (a refused config, an unusable database or port): as text
   * `pvflow: <msg>`, without a time, as it always was; as JSON an error object.
   */
  fatal(msg: string, fields?: LogFields): void {
    this.#write(this.format === "text" ? `pvflow: ${msg}` : formatLogLine("json", "error", msg, fields));
  }

  /**
   * In JSON format, routes `console.log/info/warn/error` of this thread (a library's, or the
   * status server's) through the log, so that every line on stdout and stderr is a JSON object.
   */
  captureConsole(target: Pick<Console, "log" | "info" | "warn" | "error"> = console): void {
    if (this.format !== "json") return;
    const text = (args: unknown[]) => args.map((a) => (typeof a === "string" ? a : a instanceof Error ? a.message : inspect(a))).join(" ");
    target.log = (...args: unknown[]) => this.info(text(args));
    target.info = (...args: unknown[]) => this.info(text(args));
    target.warn = (...args: unknown[]) => this.warn(text(args));
    target.error = (...args: unknown[]) => this.error(text(args));
  }
}
