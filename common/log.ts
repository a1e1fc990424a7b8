/**
 * The one logger of every runtime (the Worker, the GPU worker, the importer, the scripts): one JSON
 * object per line, `{ level, msg, ...fields }`, which Workers Logs, journald and `jq` all read.
 * Errors and warnings go to stderr, the rest to stdout. `child` adds fields to every line (a
 * request id, a job id). `level` (default info) drops the lines below it.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export type Logger = {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
};

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** An Error becomes its message (and stack); anything else is kept as it is. */
function plain(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] = value instanceof Error ? { message: value.message, stack: value.stack } : typeof value === "bigint" ? value.toString() : value;
  }
  return out;
}

export type LoggerOptions = {
  level?: LogLevel;
  /** Where each line goes; the console by default. Tests pass an array's push. */
  write?: (level: LogLevel, line: string) => void;
};

const consoleWrite = (level: LogLevel, line: string) => (level === "error" || level === "warn" ? console.error(line) : console.log(line));

export function createLogger(base: LogFields = {}, options: LoggerOptions = {}): Logger {
  const threshold = RANK[options.level ?? "info"];
  const write = options.write ?? consoleWrite;
  const emit =
    (level: LogLevel) =>
    (msg: string, fields: LogFields = {}) => {
      if (RANK[level] < threshold) return;
      write(level, JSON.stringify({ level, msg, ...plain(base), ...plain(fields) }));
    };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    child: (fields) => createLogger({ ...base, ...fields }, options),
  };
}

/** The process-wide logger (level `info`). */
export const log = createLogger();
