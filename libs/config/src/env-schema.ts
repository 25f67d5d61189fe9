// A tiny declarative environment schema: each variable names its type, default, whether it
// is secret and which apps read it. `parseEnv` validates every variable and reports every
// problem in one error, so an operator fixes a bad deployment in one round trip.

export type AppName = 'chat-api' | 'chatd-worker' | 'aibridge-recorder' | 'telemetry-collector' | 'dbpurge';
export const ALL_APPS: readonly AppName[] = [
  'chat-api',
  'chatd-worker',
  'aibridge-recorder',
  'telemetry-collector',
  'dbpurge',
];

interface BaseSpec<T> {
  description: string;
  /** Apps that read the variable; the README configuration table is checked against this. */
  apps: readonly AppName[] | 'all';
  /** Secret values are never logged or echoed back in errors. */
  secret?: boolean;
  /** Default when unset or empty. `undefined` with `required` false means "optional". */
  default?: T;
  required?: boolean;
  parse(raw: string): T;
  /** Shown in docs instead of the default, e.g. for derived defaults. */
  defaultText?: string;
}

/** `P` records at the type level whether a value is always present (default or required). */
export type VarSpec<T, P extends boolean = boolean> = BaseSpec<T> & { readonly __present?: P };
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type EnvSchema = Record<string, VarSpec<any>>;
export type EnvValues<S extends EnvSchema> = {
  [K in keyof S]: S[K] extends VarSpec<infer T, infer P> ? (P extends true ? T : T | undefined) : never;
};
type Present<O> = O extends { default: unknown } ? true : O extends { required: true } ? true : false;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  - ${problems.join('\n  - ')}`,
    );
    this.name = 'ConfigError';
  }
}

type Opts<T> = Omit<BaseSpec<T>, 'parse'>;

function fail(msg: string): never {
  throw new Error(msg);
}

export const v = {
  string<const O extends Opts<string>>(opts: O): VarSpec<string, Present<O>> {
    return { ...opts, parse: (raw) => raw };
  },
  int<const O extends Opts<number> & { min?: number; max?: number }>(opts: O): VarSpec<number, Present<O>> {
    return {
      ...opts,
      parse(raw) {
        if (!/^-?\d+$/.test(raw.trim())) fail(`must be an integer, got ${JSON.stringify(raw)}`);
        const n = Number(raw.trim());
        if (!Number.isSafeInteger(n)) fail(`must be a safe integer`);
        if (opts.min !== undefined && n < opts.min) fail(`must be >= ${opts.min}, got ${n}`);
        if (opts.max !== undefined && n > opts.max) fail(`must be <= ${opts.max}, got ${n}`);
        return n;
      },
    };
  },
  port<const O extends Opts<number>>(opts: O): VarSpec<number, Present<O>> {
    return v.int({ ...opts, min: 0, max: 65535 }) as VarSpec<number, Present<O>>;
  },
  bool<const O extends Opts<boolean>>(opts: O): VarSpec<boolean, Present<O>> {
    return {
      ...opts,
      parse(raw) {
        const s = raw.trim().toLowerCase();
        if (['1', 'true', 'yes', 'on'].includes(s)) return true;
        if (['0', 'false', 'no', 'off'].includes(s)) return false;
        fail(`must be a boolean (true/false), got ${JSON.stringify(raw)}`);
      },
    };
  },
  oneOf<T extends string, const O extends Opts<T>>(values: readonly T[], opts: O): VarSpec<T, Present<O>> {
    return {
      ...opts,
      parse(raw) {
        const s = raw.trim() as T;
        if (!values.includes(s)) fail(`must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
        return s;
      },
    };
  },
  url<const O extends Opts<string> & { protocols: readonly string[] }>(opts: O): VarSpec<string, Present<O>> {
    return {
      ...opts,
      parse(raw) {
        let u: URL;
        try {
          u = new URL(raw.trim());
        } catch {
          fail(`must be an absolute URL (${opts.protocols.map((p) => p + '//').join(' or ')}…)`);
        }
        if (!opts.protocols.includes(u.protocol)) {
          fail(`must use ${opts.protocols.join(' or ')}, got ${u.protocol}`);
        }
        return raw.trim();
      },
    };
  },
  /** Comma-separated list of URLs (NATS accepts several seed servers). */
  urlList<const O extends Opts<string[]> & { protocols: readonly string[] }>(
    opts: O,
  ): VarSpec<string[], Present<O>> {
    const one = v.url({ description: opts.description, apps: opts.apps, protocols: opts.protocols });
    return {
      ...opts,
      parse(raw) {
        const parts = raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        if (parts.length === 0) fail('must list at least one URL');
        return parts.map((p) => one.parse(p));
      },
    };
  },
  /** Sizes as bytes: "1048576", "512KiB", "8MiB", "1GiB" (also KB/MB/GB as powers of 1000). */
  bytes<const O extends Opts<number> & { min?: number; max?: number }>(opts: O): VarSpec<number, Present<O>> {
    const units: Record<string, number> = {
      '': 1,
      b: 1,
      kb: 1e3,
      mb: 1e6,
      gb: 1e9,
      kib: 1024,
      mib: 1024 ** 2,
      gib: 1024 ** 3,
    };
    return {
      ...opts,
      parse(raw) {
        const m = /^(\d+)\s*([a-z]*)$/i.exec(raw.trim());
        const mult = m ? units[m[2].toLowerCase()] : undefined;
        if (!m || mult === undefined)
          fail(`must be a size like 1048576, 512KiB or 8MiB, got ${JSON.stringify(raw)}`);
        const n = Number(m[1]) * mult;
        if (!Number.isSafeInteger(n)) fail('must be a safe integer number of bytes');
        if (opts.min !== undefined && n < opts.min) fail(`must be at least ${opts.min} bytes, got ${n}`);
        if (opts.max !== undefined && n > opts.max) fail(`must be at most ${opts.max} bytes, got ${n}`);
        return n;
      },
    };
  },
  /** Durations as milliseconds: "1500", "1500ms", "30s", "10m", "1h". */
  duration<const O extends Opts<number> & { min?: number }>(opts: O): VarSpec<number, Present<O>> {
    return {
      ...opts,
      parse(raw) {
        const m = /^(\d+)(ms|s|m|h)?$/.exec(raw.trim());
        if (!m) fail(`must be a duration like 500ms, 30s, 10m or 1h, got ${JSON.stringify(raw)}`);
        const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
        const n = Number(m[1]) * mult;
        if (opts.min !== undefined && n < opts.min) fail(`must be at least ${opts.min}ms`);
        return n;
      },
    };
  },
};

export function parseEnv<S extends EnvSchema>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): EnvValues<S> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(schema)) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') {
      if (spec.default !== undefined) out[name] = spec.default;
      else if (spec.required) problems.push(`${name} is required (${spec.description})`);
      else out[name] = undefined;
      continue;
    }
    try {
      out[name] = spec.parse(raw);
    } catch (e) {
      const msg = (e as Error).message;
      // A secret's value must not leak through the error text (parsers quote the input).
      problems.push(`${name} ${spec.secret ? msg.replace(/, got .*$/, '') : msg}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as EnvValues<S>;
}

/** Values safe to log: secrets are replaced by a marker that says whether they are set. */
export function redactConfig(schema: EnvSchema, values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(schema)) {
    out[name] = spec.secret ? (values[name] === undefined ? '(unset)' : '(set)') : values[name];
  }
  return out;
}
