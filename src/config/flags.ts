/**
 * Command-line parsing with the rules of Go's `flag` package, so that every k8s-elector command
 * line keeps working: `-flag=value`, `-flag value`, `--flag=value`, `--flag value`; boolean flags
 * take no separate value; parsing stops at `--` or at the first argument that is not a flag.
 * Also the value checks both commands share. Every mistake becomes one ConfigError line.
 */
import { oneLine } from "../election/record.ts";
import { validateTiming, type Timing } from "../election/timing.ts";

/**
 * Bad input, said in one line: control characters the input carried into the message (a newline in
 * a flag's value, say) are written escaped, as JSON writes them.
 */
export class ConfigError extends Error {
  override name = "ConfigError";

  constructor(message: string, options?: ErrorOptions) {
    super(oneLine(message), options);
  }
}

/** The LOG_LEVEL values elector takes: pino's levels. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;

export class UsageError extends Error {
  override name = "UsageError";
}

export interface FlagSpec {
  name: string;
  usage: string;
  boolean?: boolean;
}

export interface ParsedFlags {
  values: Map<string, string>;
  /** Everything after the flags: the wrapped command, if any. */
  rest: string[];
}

export function parseGoFlags(argv: string[], specs: FlagSpec[]): ParsedFlags {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values = new Map<string, string>();
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i] ?? "";
    if (arg === "--") {
      i += 1;
      break;
    }
    if (arg.length < 2 || !arg.startsWith("-")) break;
    const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1);
    if (body === "" || body.startsWith("-") || body.startsWith("=")) throw new UsageError(`bad flag syntax: ${arg}`);
    const eq = body.indexOf("=");
    const name = eq === -1 ? body : body.slice(0, eq);
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`flag provided but not defined: -${name}`);
    i += 1;
    if (eq !== -1) {
      values.set(name, body.slice(eq + 1));
    } else if (spec.boolean) {
      values.set(name, "true");
    } else {
      const value = argv[i];
      if (value === undefined) throw new UsageError(`flag needs an argument: -${name}`);
      values.set(name, value);
      i += 1;
    }
  }
  return { values, rest: argv.slice(i) };
}

/** parseGoFlags for `elector <command>`: a usage mistake becomes a ConfigError pointing to -h. */
export function parseCommandFlags(command: string, argv: string[], specs: FlagSpec[]): ParsedFlags {
  try {
    return parseGoFlags(argv, specs);
  } catch (err) {
    if (err instanceof UsageError) throw new ConfigError(`${err.message} (see elector ${command} -h)`, { cause: err });
    throw err;
  }
}

export function usage(command: string, specs: FlagSpec[]): string {
  return [`Usage of ${command}:`, ...specs.map((s) => `  -${s.name}${s.boolean ? "" : " value"}\n    \t${s.usage}`)].join("\n");
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration string ("15s", "1m30s", "500ms", "0") in milliseconds; undefined if invalid. */
export function parseGoDuration(text: string): number | undefined {
  if (text === "0") return 0;
  const match = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(text);
  if (!match) return undefined;
  let total = 0;
  for (const part of text.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(part[1]) * (UNITS[part[2] ?? ""] ?? Number.NaN);
  }
  return match[1] === "-" ? -total : total;
}

/** A Go duration flag in milliseconds, or a ConfigError naming where it came from. */
export function durationMs(source: string, text: string): number {
  const ms = parseGoDuration(text);
  if (ms === undefined) throw new ConfigError(`invalid duration "${text}" for ${source}: use Go syntax such as 15s, 1m30s or 500ms`);
  return ms;
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** Go's host:port, as net.Listen takes it: ":4040", "0.0.0.0:5002", "[::1]:80". */
export function parseListenAddress(text: string, what = "HTTP address"): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new ConfigError(`invalid ${what} "${text}": want host:port, e.g. :4040 or 0.0.0.0:4040`);
  const host = match[1] ?? match[2] ?? "";
  return { host: host === "" ? "0.0.0.0" : host, port };
}

export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s);
}

export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && s.split(".").every(isDnsLabel);
}

/** The flags of the three timing settings, as client-go's users name them (each command describes them in its usage). */
export const TIMING_FLAGS = { leaseDurationMs: "lease-duration", renewDeadlineMs: "renew-deadline", retryPeriodMs: "retry-period" } as const satisfies Record<
  keyof Timing,
  string
>;

/**
 * Lease timing from the timing flags: each setting from its flag when given, else from `other`
 * (another source of the same setting: its name for messages, and its text), else from `base`;
 * checked as client-go checks it.
 */
export function timingFromFlags(
  flag: (name: string) => string | undefined,
  base: Timing,
  other: (field: keyof Timing) => { source: string; text: string } | undefined = () => undefined,
): Timing {
  const pick = (field: keyof Timing): number => {
    const name = TIMING_FLAGS[field];
    const text = flag(name);
    if (text !== undefined) return durationMs(`--${name}`, text);
    const fallback = other(field);
    return fallback ? durationMs(fallback.source, fallback.text) : base[field];
  };
  return checkedTiming({ leaseDurationMs: pick("leaseDurationMs"), renewDeadlineMs: pick("renewDeadlineMs"), retryPeriodMs: pick("retryPeriodMs") });
}

/** Lease timing as client-go checks it, or a ConfigError that says which rule it breaks. */
export function checkedTiming(timing: Timing): Timing {
  try {
    validateTiming(timing);
  } catch (err) {
    throw new ConfigError(`invalid timing: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return timing;
}
