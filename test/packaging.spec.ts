/*
 * Packaging: the Dockerfile, docker-compose.yml and the Helm chart in deploy/helm/agentmesh,
 * checked with real validators, offline, in a few seconds.
 *
 * Validators, and why these:
 * - Helm chart: the real `helm` binary. Debian has no Helm package; the npm package
 *   @aws-cdk/asset-kubectl-v20 (a devDependency without dependencies) ships the official
 *   helm v3.8.1 linux-amd64 binary inside lib/layer.zip, which this test unpacks once into
 *   node_modules/.cache. `helm lint --strict` and `helm template` render the chart with
 *   several value sets (helm enforces values.schema.json), and invalid values must make helm
 *   fail with a clear message. Set HELM_BIN to use another helm (e.g. off linux-x64).
 * - Kubernetes objects: every rendered object is validated with kubernetes-models (the
 *   Kubernetes OpenAPI schemas compiled to validators: types, required fields, enums,
 *   formats) and type-checked by the TypeScript compiler against the same package's
 *   declarations, which rejects unknown fields as `kubeconform -strict` would.
 * - docker-compose.yml: dclint, which validates the file against the compose-spec JSON
 *   schema and applies its rule set (all rules on).
 * - Dockerfile: dockerfile-utils, the validator of the VS Code Dockerfile language server.
 * - Environment: libs/config parses the environment each app receives from compose and from
 *   the rendered Deployments, so variable names and values are ones the apps accept at boot.
 * No Docker engine runs here, so the image itself is not built by this test.
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { crc32, inflateRawSync } from 'node:zlib';
import { ASSET_FILE as HELM_LAYER_ZIP } from '@aws-cdk/asset-kubectl-v20';
import { DCLinter } from 'dclint';
import { validate as validateDockerfile } from 'dockerfile-utils';
import { Deployment, IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import {
  HorizontalPodAutoscaler,
  IHorizontalPodAutoscaler,
} from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { IJob, Job } from 'kubernetes-models/batch/v1/Job';
import { IPodDisruptionBudget, PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap, IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { ISecret, Secret } from 'kubernetes-models/v1/Secret';
import { IService, Service } from 'kubernetes-models/v1/Service';
import ts from 'typescript';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import {
  ALL_APPS,
  AppName,
  commonSchema,
  DEFAULT_HEALTH_PORTS,
  parseEnv,
  schemaFor,
} from '@agentmesh/config';

const ROOT = join(__dirname, '..');
const CHART = join(ROOT, 'deploy', 'helm', 'agentmesh');
const APPS = ['chat-api', 'chatd-worker', 'aibridge-recorder', 'telemetry-collector', 'dbpurge'] as const;
type App = (typeof APPS)[number];
const WORKERS = APPS.filter((a): a is Exclude<App, 'chat-api'> => a !== 'chat-api');

/** The environment every app reads, and what each app reads on top (docs/deploy.md). */
const COMMON_ENV = [
  'DATABASE_URL',
  'DB_POOL_SIZE',
  'NATS_URL',
  'NATS_TOKEN',
  'NATS_SUBJECT_PREFIX',
  'LOG_LEVEL',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'SHUTDOWN_GRACE_PERIOD',
  'AGENTMESH_ENCRYPTION_KEYS',
];
const APP_ENV: Record<App, string[]> = {
  'chat-api': [
    'HTTP_HOST',
    'HTTP_PORT',
    'SESSION_DURATION',
    'MAX_TOKEN_LIFETIME',
    'SECURE_AUTH_COOKIE',
    'LOGIN_RATE_LIMIT_IP',
    'LOGIN_RATE_LIMIT_ACCOUNT',
    'TRUST_PROXY',
  ],
  'chatd-worker': ['HEALTH_HOST', 'HEALTH_PORT'],
  'aibridge-recorder': ['HEALTH_HOST', 'HEALTH_PORT'],
  'telemetry-collector': ['HEALTH_HOST', 'HEALTH_PORT'],
  dbpurge: ['HEALTH_HOST', 'HEALTH_PORT', 'PURGE_INTERVAL', 'RETENTION_API_KEYS'],
};
const SECRET_ENV = ['DATABASE_URL', 'NATS_TOKEN', 'AGENTMESH_ENCRYPTION_KEYS'];

// ---------------------------------------------------------------------------------------
// Small helpers

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function obj(v: unknown, what: string): Obj {
  if (!isObj(v)) throw new Error(`${what} must be a mapping, got ${JSON.stringify(v)}`);
  return v;
}
function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new Error(`${what} must be a list, got ${JSON.stringify(v)}`);
  return v;
}
function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new Error(`${what} must be a string, got ${JSON.stringify(v)}`);
  return v;
}
function read(rel: string): string {
  return readFileSync(join(ROOT, rel), 'utf8');
}
/** Durations as the apps and Docker write them ("25s", "1m", "1500ms") in milliseconds. */
function durationMs(raw: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(raw.trim());
  if (!m) throw new Error(`not a duration: ${raw}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      cmd,
      args,
      { env: opts.env ?? process.env, cwd: opts.cwd ?? ROOT, maxBuffer: 32 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

// ---------------------------------------------------------------------------------------
// Kubernetes validation: OpenAPI schema (kubernetes-models) + unknown fields (TypeScript)

interface KindModel {
  validate(o: Obj): void;
  module: string;
  type: string;
}
const KINDS: Record<string, KindModel> = {
  'apps/v1/Deployment': {
    validate: (o) => new Deployment(o as unknown as IDeployment).validate(),
    module: 'kubernetes-models/apps/v1/Deployment',
    type: 'IDeployment',
  },
  'v1/Service': {
    validate: (o) => new Service(o as unknown as IService).validate(),
    module: 'kubernetes-models/v1/Service',
    type: 'IService',
  },
  'v1/ConfigMap': {
    validate: (o) => new ConfigMap(o as unknown as IConfigMap).validate(),
    module: 'kubernetes-models/v1/ConfigMap',
    type: 'IConfigMap',
  },
  'v1/Secret': {
    validate: (o) => new Secret(o as unknown as ISecret).validate(),
    module: 'kubernetes-models/v1/Secret',
    type: 'ISecret',
  },
  'batch/v1/Job': {
    validate: (o) => new Job(o as unknown as IJob).validate(),
    module: 'kubernetes-models/batch/v1/Job',
    type: 'IJob',
  },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    validate: (o) => new HorizontalPodAutoscaler(o as unknown as IHorizontalPodAutoscaler).validate(),
    module: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
    type: 'IHorizontalPodAutoscaler',
  },
  'policy/v1/PodDisruptionBudget': {
    validate: (o) => new PodDisruptionBudget(o as unknown as IPodDisruptionBudget).validate(),
    module: 'kubernetes-models/policy/v1/PodDisruptionBudget',
    type: 'IPodDisruptionBudget',
  },
};

function kindKey(o: Obj): string {
  return `${String(o.apiVersion)}/${String(o.kind)}`;
}
function describeObject(o: Obj): string {
  return `${kindKey(o)} ${String(obj(o.metadata, 'metadata').name)}`;
}

/** Schema errors of each object (empty when all are valid). */
function schemaErrors(objects: Obj[]): string[] {
  const errors: string[] = [];
  for (const o of objects) {
    const model = KINDS[kindKey(o)];
    if (!model) {
      errors.push(`${describeObject(o)}: no Kubernetes schema known to this test; add it to KINDS`);
      continue;
    }
    try {
      model.validate(o);
    } catch (e) {
      errors.push(`${describeObject(o)}: ${(e as Error).message}`);
    }
  }
  return errors;
}

/**
 * Type-checks each object as an object literal of its kubernetes-models interface. Excess
 * property checks make any field Kubernetes does not know a compile error.
 */
function unknownFieldErrors(objects: Obj[]): string[] {
  const cfg = ts.readConfigFile(join(ROOT, 'tsconfig.base.json'), (p) => ts.sys.readFile(p));
  const base = ts.parseJsonConfigFileContent(cfg.config, ts.sys, ROOT).options;
  const options: ts.CompilerOptions = {
    ...base,
    noEmit: true,
    types: [],
    skipLibCheck: true,
    sourceMap: false,
    noUnusedLocals: false,
  };
  const file = join(ROOT, 'test', '__rendered_manifests__.ts');
  const used = [...new Set(objects.map((o) => KINDS[kindKey(o)]).filter((k): k is KindModel => !!k))];
  const lines = used.map((k) => `import type { ${k.type} } from '${k.module}';`);
  const firstObjectLine = lines.length;
  objects.forEach((o, i) => {
    const model = KINDS[kindKey(o)];
    if (model) lines.push(`export const object${i}: ${model.type} = ${JSON.stringify(o)};`);
    else lines.push(`export const object${i} = null;`);
  });
  const source = lines.join('\n');
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) =>
    name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest);
  host.fileExists = (name) => name === file || fileExists(name);
  host.readFile = (name) => (name === file ? source : readFile(name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file && d.start !== undefined && d.file.fileName === file) {
      const line = d.file.getLineAndCharacterOfPosition(d.start).line;
      const o = objects[line - firstObjectLine];
      return `${o ? describeObject(o) : file}: ${msg}`;
    }
    return msg;
  });
}

// ---------------------------------------------------------------------------------------
// Helm

const HELM_PACKAGE = '@aws-cdk/asset-kubectl-v20';

/** Reads one entry of a zip archive (stored or deflated), checking its size and CRC-32. */
function unzipEntry(zipPath: string, entryName: string): Buffer {
  const zip = readFileSync(zipPath);
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${zipPath} is not a zip archive`);
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error(`${zipPath}: corrupt central directory`);
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    const compressedSize = zip.readUInt32LE(p + 20);
    const size = zip.readUInt32LE(p + 24);
    const nameLength = zip.readUInt16LE(p + 28);
    const extraLength = zip.readUInt16LE(p + 30);
    const commentLength = zip.readUInt16LE(p + 32);
    const localHeader = zip.readUInt32LE(p + 42);
    const name = zip.toString('utf8', p + 46, p + 46 + nameLength);
    if (name === entryName) {
      const start =
        localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
      const raw = zip.subarray(start, start + compressedSize);
      const data = method === 0 ? raw : method === 8 ? inflateRawSync(raw) : null;
      if (!data) throw new Error(`${zipPath}: ${entryName} uses unsupported compression method ${method}`);
      if (data.length !== size || crc32(data) >>> 0 !== crc)
        throw new Error(`${zipPath}: ${entryName} fails its size/CRC check`);
      return data;
    }
    p += 46 + nameLength + extraLength + commentLength;
  }
  throw new Error(`${zipPath} has no entry ${entryName}`);
}

/** Path of a helm binary: HELM_BIN, else the one shipped in the npm package (unpacked once). */
function helmBinary(): string {
  if (process.env.HELM_BIN) return process.env.HELM_BIN;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `${HELM_PACKAGE} ships a linux-x64 helm; on ${process.platform}-${process.arch} set HELM_BIN to a helm 3 binary to run these checks`,
    );
  }
  const version = (
    JSON.parse(readFileSync(join(dirname(HELM_LAYER_ZIP), '..', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  const target = join(
    ROOT,
    'node_modules',
    '.cache',
    'agentmesh-packaging',
    `helm-from-asset-kubectl-v20-${version}`,
    'helm',
  );
  if (!existsSync(target)) {
    mkdirSync(dirname(target), { recursive: true });
    const tmp = `${target}.${process.pid}.tmp`;
    writeFileSync(tmp, unzipEntry(HELM_LAYER_ZIP, 'helm/helm'));
    chmodSync(tmp, 0o755);
    renameSync(tmp, target);
  }
  return target;
}

let helmBin = '';
let helmHome = '';

function helm(args: string[]) {
  return run(helmBin, args, {
    env: {
      ...process.env,
      HELM_CACHE_HOME: join(helmHome, 'cache'),
      HELM_CONFIG_HOME: join(helmHome, 'config'),
      HELM_DATA_HOME: join(helmHome, 'data'),
      KUBECONFIG: join(helmHome, 'kubeconfig'),
    },
  });
}

const RELEASE = 'am';
const NAMESPACE = 'agentmesh';
const FULLNAME = `${RELEASE}-agentmesh`;
const DB_URL = 'postgres://agentmesh:s3cret@db.example.internal:5432/agentmesh?sslmode=require';
const ENCRYPTION_KEYS = `${Buffer.alloc(32, 7).toString('base64')},${Buffer.alloc(32, 9).toString('base64')}`;

function valuesFile(values: Obj): string {
  const file = join(helmHome, `values-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(values));
  return file;
}

async function helmTemplate(
  values: Obj,
  chart = CHART,
): Promise<{ code: number; objects: Obj[]; stderr: string }> {
  const r = await helm([
    'template',
    RELEASE,
    chart,
    '--namespace',
    NAMESPACE,
    '--values',
    valuesFile(values),
  ]);
  if (r.code !== 0) return { code: r.code, objects: [], stderr: r.stderr };
  const objects: Obj[] = [];
  for (const doc of parseAllDocuments(r.stdout)) {
    if (doc.errors.length > 0) throw new Error(`helm rendered invalid YAML: ${doc.errors[0].message}`);
    const o: unknown = doc.toJS();
    if (o != null) objects.push(obj(o, 'rendered document'));
  }
  return { code: 0, objects, stderr: r.stderr };
}

function byKind(objects: Obj[], kind: string): Obj[] {
  return objects.filter((o) => o.kind === kind);
}
function named(objects: Obj[], kind: string, name: string): Obj {
  const found = objects.find((o) => o.kind === kind && obj(o.metadata, 'metadata').name === name);
  if (!found)
    throw new Error(`no ${kind} ${name} rendered (have: ${objects.map(describeObject).join(', ')})`);
  return found;
}
function annotations(o: Obj): Obj {
  return obj(obj(o.metadata, 'metadata').annotations ?? {}, 'annotations');
}
function podSpec(o: Obj): Obj {
  return obj(obj(obj(obj(o.spec, 'spec').template, 'template').spec, 'pod spec'), 'pod spec');
}
function podLabels(o: Obj): Record<string, string> {
  return obj(
    obj(obj(obj(o.spec, 'spec').template, 'template').metadata, 'metadata').labels,
    'labels',
  ) as Record<string, string>;
}
function container(o: Obj): Obj {
  const containers = arr(podSpec(o).containers, 'containers');
  expect(containers).toHaveLength(1);
  return obj(containers[0], 'container');
}
function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The environment a container sees: envFrom ConfigMaps/Secrets (rendered or given), then env. */
function containerEnv(
  c: Obj,
  objects: Obj[],
  external: Record<string, Record<string, string>> = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of arr(c.envFrom ?? [], 'envFrom')) {
    const f = obj(from, 'envFrom item');
    if (f.configMapRef) {
      const name = str(obj(f.configMapRef, 'configMapRef').name, 'configMapRef.name');
      Object.assign(env, obj(named(objects, 'ConfigMap', name).data ?? {}, 'data'));
    } else if (f.secretRef) {
      const name = str(obj(f.secretRef, 'secretRef').name, 'secretRef.name');
      if (external[name]) {
        Object.assign(env, external[name]);
        continue;
      }
      const data = obj(named(objects, 'Secret', name).data ?? {}, 'data');
      for (const [k, v] of Object.entries(data)) env[k] = Buffer.from(str(v, k), 'base64').toString('utf8');
    }
  }
  for (const item of arr(c.env ?? [], 'env')) {
    const e = obj(item, 'env item');
    env[str(e.name, 'env name')] = str(e.value, `env ${String(e.name)}`);
  }
  return env;
}

// ---------------------------------------------------------------------------------------
// Compose

/** Compose variable interpolation (${VAR}, ${VAR:-default}, ${VAR-default}, $$) with `vars`. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (m, braced, op, arg, bare) => {
      if (m === '$$') return '$';
      const name = (braced ?? bare) as string;
      const v = vars[name];
      if (op === ':-') return v ? v : String(arg);
      if (op === '-') return v !== undefined ? v : String(arg);
      if (op === ':?' || op === '?') {
        if (v === undefined || (op === ':?' && v === ''))
          throw new Error(`compose requires ${name}: ${String(arg)}`);
        return v;
      }
      return v ?? '';
    },
  );
}
function interpolateDeep(v: unknown, vars: Record<string, string>): unknown {
  if (typeof v === 'string') return interpolate(v, vars);
  if (Array.isArray(v)) return v.map((x) => interpolateDeep(x, vars));
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolateDeep(x, vars)]));
  return v;
}
function envOf(service: Obj): Record<string, string> {
  const env = obj(service.environment ?? {}, 'environment');
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v == null ? '' : String(v)]));
}

// ---------------------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  instr: string;
  args: string;
  line: number;
}
function dockerInstructions(src: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let start = 0;
  src.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line.startsWith('#') || (!buf && line === '')) return;
    if (!buf) start = i + 1;
    if (line.endsWith('\\')) {
      buf += `${line.slice(0, -1).trim()} `;
      return;
    }
    buf += line;
    const m = /^(\S+)\s*(.*)$/.exec(buf);
    if (m) out.push({ instr: m[1].toUpperCase(), args: m[2], line: start });
    buf = '';
  });
  return out;
}
interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}
function dockerStages(src: string): Stage[] {
  const stages: Stage[] = [];
  for (const ins of dockerInstructions(src)) {
    if (ins.instr === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`line ${ins.line}: cannot read FROM ${ins.args}`);
      stages.push({ from: m[1], name: m[2] ?? String(stages.length), instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1].instructions.push(ins);
    }
  }
  return stages;
}

/** .dockerignore semantics: last matching pattern wins, `!` re-includes, a dir excludes its content. */
function dockerignored(patterns: string[], path: string): boolean {
  const toRegExp = (p: string) =>
    new RegExp(
      `^${p
        .replace(/^\/+/, '')
        .replace(/\/+$/, '')
        .split('/')
        .map((seg) =>
          seg === '**'
            ? '.*'
            : seg
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?')}$`,
    );
  const parts = path.split('/');
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const re = toRegExp(negate ? raw.slice(1) : raw);
    if (candidates.some((c) => re.test(c))) ignored = !negate;
  }
  return ignored;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

// =======================================================================================

describe('packaging', () => {
  beforeAll(() => {
    helmHome = mkdtempSync(join(tmpdir(), 'agentmesh-packaging-'));
    // An empty kubeconfig: `helm template` never contacts a cluster, and the user's is not read.
    writeFileSync(
      join(helmHome, 'kubeconfig'),
      'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n',
      { mode: 0o600 },
    );
    helmBin = helmBinary();
  });
  afterAll(() => {
    if (helmHome) rmSync(helmHome, { recursive: true, force: true });
  });

  it('packages exactly the apps the config library knows', () => {
    expect([...ALL_APPS].sort()).toEqual([...APPS].sort());
    for (const app of APPS) {
      const schema = schemaFor(app as AppName);
      for (const name of [...COMMON_ENV, ...APP_ENV[app]])
        expect({ app, name, known: name in schema }).toEqual({ app, name, known: true });
    }
    for (const name of COMMON_ENV)
      expect({ name, common: name in commonSchema }).toEqual({ name, common: true });
  });

  it('uses validators that reject known-bad input', async () => {
    expect(
      schemaErrors([
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { ports: [{ port: 'http' }] } },
      ]),
    ).toHaveLength(1);
    const typo = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, dataa: {} };
    expect(unknownFieldErrors([typo]).join('\n')).toMatch(/dataa/);
    expect(validateDockerfile('FROM node:20-bookworm-slim\nCOPPY . .\n').length).toBeGreaterThan(0);
    const dir = mkdtempSync(join(helmHome, 'compose-'));
    writeFileSync(
      join(dir, 'docker-compose.yml'),
      'name: x\nservices:\n  a:\n    image: busybox:1.36\n    restartt: always\n',
    );
    const [result] = new DCLinter({ rules: {}, quiet: true, debug: false, exclude: [] }).lintFiles(
      [join(dir, 'docker-compose.yml')],
      false,
    );
    expect(result.messages.map((m) => m.rule)).toContain('invalid-schema');
    const version = await helm(['version', '--short']);
    expect(version).toMatchObject({ code: 0 });
    expect(version.stdout).toMatch(/^v[34]\./);
  });

  describe('Dockerfile', () => {
    const src = read('Dockerfile');
    const stages = dockerStages(src);
    const stage = (name: string) => {
      const s = stages.find((x) => x.name === name);
      if (!s) throw new Error(`no stage ${name} (have ${stages.map((x) => x.name).join(', ')})`);
      return s;
    };
    const runs = (s: Stage) => s.instructions.filter((i) => i.instr === 'RUN').map((i) => i.args);

    it('is valid Dockerfile syntax', () => {
      const problems = validateDockerfile(src).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
      expect(problems).toEqual([]);
    });

    it('builds in stages deps -> build -> runtime on Node 20 and installs with npm install, not npm ci', () => {
      expect(stages.map((s) => s.name)).toEqual(expect.arrayContaining(['deps', 'build', 'runtime']));
      expect(stages[stages.length - 1].name).toBe('runtime');
      const nodeImage = /^ARG NODE_IMAGE=(\S+)$/m.exec(src)?.[1] ?? '';
      expect(nodeImage).toMatch(/^node:20(\.\d+)*-bookworm-slim$/);
      for (const s of stages)
        expect(s.from === '${NODE_IMAGE}' || stages.some((x) => x.name === s.from)).toBe(true);
      expect(runs(stage('deps')).join('\n')).toMatch(/\bnpm install --no-audit --no-fund\b/);
      expect(stages.flatMap(runs).filter((r) => /\bnpm ci\b/.test(r))).toEqual([]);
      expect(runs(stage('build')).join('\n')).toMatch(/\bnpm run build\b/);
      expect(stage('build').from).toBe('deps');
    });

    it('ships only production dependencies, dist/ and the entry script, as a non-root user', () => {
      const runtime = stage('runtime');
      const copies = runtime.instructions.filter((i) => i.instr === 'COPY').map((i) => i.args);
      const fromStage = (path: string) => {
        const c = copies.find((a) => new RegExp(`\\s/app/${path}\\s`).test(` ${a} `));
        const m = c && /--from=(\S+)/.exec(c);
        if (!m) throw new Error(`runtime does not copy /app/${path} from a stage`);
        return stage(m[1]);
      };
      const modules = fromStage('node_modules');
      expect(runs(modules).join('\n')).toMatch(/\bnpm prune --omit=dev\b/);
      expect(fromStage('dist').name).toBe('build');
      expect(runs(runtime)).toEqual([]);
      const env = runtime.instructions
        .filter((i) => i.instr === 'ENV')
        .map((i) => i.args)
        .join(' ');
      expect(env).toMatch(/\bNODE_ENV=production\b/);
      const users = runtime.instructions.filter((i) => i.instr === 'USER').map((i) => i.args.trim());
      expect(users.length).toBeGreaterThan(0);
      expect(users[users.length - 1]).not.toMatch(/^(root|0)(:|$)/);
      const entrypoint = runtime.instructions.find((i) => i.instr === 'ENTRYPOINT');
      expect(entrypoint && JSON.parse(entrypoint.args)).toEqual(['/app/docker-entrypoint.sh']);
      expect(
        copies.some((a) => /^(--chmod=0?755\s+)docker-entrypoint\.sh\s+\.\/docker-entrypoint\.sh$/.test(a)),
      ).toBe(true);
      expect(runtime.instructions.find((i) => i.instr === 'WORKDIR')?.args).toBe('/app');
      const cmd = runtime.instructions.find((i) => i.instr === 'CMD');
      expect(cmd && JSON.parse(cmd.args)).toEqual(['chat-api']);
    });

    it('has a build context (.dockerignore) with everything the build reads and nothing heavy', () => {
      const patterns = read('.dockerignore')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'));
      const needed = [
        'package.json',
        'package-lock.json',
        '.npmrc',
        'tsconfig.base.json',
        'scripts/build.mjs',
        'docker-entrypoint.sh',
        ...['apps', 'libs', 'migrations'].flatMap((d) =>
          filesUnder(join(ROOT, d))
            .map((f) => relative(ROOT, f))
            .filter((f) => f.endsWith('package.json') || (f.endsWith('.ts') && !f.endsWith('.spec.ts'))),
        ),
      ];
      for (const f of needed) {
        expect(existsSync(join(ROOT, f))).toBe(true);
        expect({ f, ignored: dockerignored(patterns, f) }).toEqual({ f, ignored: false });
      }
      for (const f of [
        'node_modules/yaml/package.json',
        'apps/chat-api/node_modules/x/index.js',
        'dist/apps/chat-api/src/main.js',
        '.git/HEAD',
        'libs/db/src/x.spec.ts',
      ]) {
        expect({ f, ignored: dockerignored(patterns, f) }).toEqual({ f, ignored: true });
      }
    });

    it('has an entry script that execs the chosen app or the migration with node', async () => {
      const entry = join(ROOT, 'docker-entrypoint.sh');
      expect(statSync(entry).mode & 0o111).not.toBe(0);
      expect(await run('sh', ['-n', entry])).toMatchObject({ code: 0 });
      const dir = mkdtempSync(join(helmHome, 'entry-'));
      mkdirSync(join(dir, 'bin'));
      writeFileSync(join(dir, 'bin', 'node'), '#!/bin/sh\necho "$PWD|$*"\n');
      chmodSync(join(dir, 'bin', 'node'), 0o755);
      mkdirSync(join(dir, 'app'));
      cpSync(entry, join(dir, 'app', 'docker-entrypoint.sh'));
      const env = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}` };
      const script = join(dir, 'app', 'docker-entrypoint.sh');
      for (const app of APPS) {
        const r = await run('sh', [script, app, '--flag'], { env, cwd: tmpdir() });
        expect(r).toMatchObject({
          code: 0,
          stdout: `${join(dir, 'app')}|dist/apps/${app}/src/main.js --flag\n`,
        });
      }
      expect(await run('sh', [script, 'migrate'], { env })).toMatchObject({
        code: 0,
        stdout: `${join(dir, 'app')}|dist/migrations/cli.js migrate\n`,
      });
      const bad = await run('sh', [script, 'chat_api'], { env });
      expect(bad.code).toBe(64);
      expect(bad.stderr).toMatch(/unknown command "chat_api"[\s\S]*usage:/);
      expect((await run('sh', [script], { env })).code).toBe(64);
    });
  });

  describe('docker-compose.yml', () => {
    const file = join(ROOT, 'docker-compose.yml');
    const raw = obj(parseYaml(readFileSync(file, 'utf8'), { merge: true }), 'compose file');
    const compose = obj(interpolateDeep(raw, {}), 'compose file');
    const services = obj(compose.services, 'services');
    const service = (name: string) => obj(services[name], `services.${name}`);

    it('passes dclint: the compose-spec schema and every dclint rule', async () => {
      const linter = new DCLinter({ rules: {}, quiet: true, debug: false, exclude: [] });
      const results = linter.lintFiles([file], false);
      expect(results).toHaveLength(1);
      if (results[0].messages.length > 0) throw new Error(await linter.formatResults(results, 'stylish'));
    });

    it('runs postgres, nats with JetStream, a one-shot migrate and the five apps', () => {
      expect(Object.keys(services).sort()).toEqual([...APPS, 'migrate', 'nats', 'postgres'].sort());
      const pg = service('postgres');
      expect(Number(/^postgres:(\d+)/.exec(str(pg.image, 'postgres image'))?.[1])).toBeGreaterThanOrEqual(16);
      expect(arr(obj(pg.healthcheck, 'healthcheck').test, 'test').join(' ')).toMatch(/pg_isready/);
      const nats = service('nats');
      const natsArgs = arr(nats.command, 'nats command').map(String);
      expect(natsArgs).toContain('-js');
      expect(natsArgs.join(' ')).toMatch(/(^| )-m 8222( |$)/);
      expect(arr(obj(nats.healthcheck, 'healthcheck').test, 'test').join(' ')).toMatch(
        /127\.0\.0\.1:8222\/healthz/,
      );
      // The server's auth token is the one the apps send (empty = no auth).
      const rawNats = obj(obj(raw.services, 'services').nats, 'nats');
      const rawNatsArgs = arr(rawNats.command, 'nats command').map(String);
      expect(rawNatsArgs[rawNatsArgs.indexOf('--auth') + 1]).toBe(
        obj(raw['x-agentmesh-env'], 'x-agentmesh-env').NATS_TOKEN,
      );

      const migrate = service('migrate');
      expect(migrate.command).toEqual(['migrate']);
      expect(migrate.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
      expect(migrate.restart).toBe('no');
    });

    it('shares one environment anchor with exactly the common variables', () => {
      const anchor = obj(raw['x-agentmesh-env'], 'x-agentmesh-env');
      expect(Object.keys(anchor).sort()).toEqual([...COMMON_ENV].sort());
      for (const name of [...APPS, 'migrate']) {
        const env = envOf(obj(obj(raw.services, 'services')[name], name));
        for (const key of COMMON_ENV)
          expect({ name, key, value: env[key] }).toEqual({ name, key, value: String(anchor[key]) });
      }
    });

    it.each(APPS)(
      '%s: same image, waits for migrate/postgres/nats, readiness healthcheck, valid config',
      (app) => {
        const s = service(app);
        expect(s.image).toBe(service('migrate').image);
        expect(s.build).toEqual(service('migrate').build);
        expect(s.command).toEqual([app]);
        expect(s.depends_on).toEqual({
          migrate: { condition: 'service_completed_successfully' },
          nats: { condition: 'service_healthy' },
          postgres: { condition: 'service_healthy' },
        });
        const env = envOf(s);
        const schema = schemaFor(app);
        expect(Object.keys(env).filter((k) => !(k in schema))).toEqual([]);
        expect([...COMMON_ENV, ...APP_ENV[app]].filter((k) => !(k in env))).toEqual([]);
        const config = parseEnv(schema, env) as Record<string, unknown>;
        expect(new URL(str(env.DATABASE_URL, 'DATABASE_URL')).hostname).toBe('postgres');
        expect(config.NATS_URL).toEqual(['nats://nats:4222']);
        const port = app === 'chat-api' ? config.HTTP_PORT : config.HEALTH_PORT;
        if (app !== 'chat-api') expect(port).toBe(DEFAULT_HEALTH_PORTS[app]);
        const test = arr(obj(s.healthcheck, 'healthcheck').test, 'healthcheck.test').map(String);
        expect(test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
        expect(test[3]).toContain(`http://127.0.0.1:${String(port)}/readyz`);
        expect(durationMs(str(s.stop_grace_period, 'stop_grace_period'))).toBeGreaterThan(
          Number(config.SHUTDOWN_GRACE_PERIOD),
        );
        if (app === 'chat-api') expect(arr(s.ports, 'ports').map(String)).toContain('127.0.0.1:3000:3000');
        else expect(s.ports).toBeUndefined();
      },
    );

    it('healthcheck commands exit 0 on 200 from /readyz and 1 on 503 or no server', async () => {
      const paths: string[] = [];
      const listen = async (status: number) => {
        const server = createServer((req, res) => {
          paths.push(req.url ?? '');
          res.statusCode = status;
          res.end();
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        return { server, port: (server.address() as AddressInfo).port };
      };
      const ready = await listen(200);
      const notReady = await listen(503);
      const closed = await listen(200);
      await new Promise<void>((r) => closed.server.close(() => r()));
      const script = (app: App, port: number) =>
        String(arr(obj(service(app).healthcheck, 'healthcheck').test, 'test')[3]).replace(
          /127\.0\.0\.1:\d+/,
          `127.0.0.1:${port}`,
        );
      try {
        const results = await Promise.all(
          APPS.flatMap((app) =>
            [
              [ready.port, 0],
              [notReady.port, 1],
              [closed.port, 1],
            ].map(async ([port, expected]) => ({
              app,
              port,
              expected,
              code: (await run(process.execPath, ['-e', script(app, port)])).code,
            })),
          ),
        );
        for (const r of results) expect(r).toEqual({ ...r, code: r.expected });
        expect(new Set(paths)).toEqual(new Set(['/readyz']));
      } finally {
        await Promise.all(
          [ready, notReady].map(({ server }) => new Promise<void>((r) => server.close(() => r()))),
        );
      }
    });
  });

  describe('Helm chart', () => {
    const chartYaml = obj(parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')), 'Chart.yaml');
    const values = obj(parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')), 'values.yaml');
    const appValues = (app: App) => obj(obj(values.apps, 'apps')[app], `apps.${app}`);
    const baseValues = {
      secrets: { DATABASE_URL: DB_URL, NATS_TOKEN: 'nats-token', AGENTMESH_ENCRYPTION_KEYS: ENCRYPTION_KEYS },
    };
    let rendered: Obj[] = [];

    beforeAll(async () => {
      const r = await helmTemplate(baseValues);
      if (r.code !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
      rendered = r.objects;
    });

    it('has a v2 Chart.yaml whose appVersion is the package version', () => {
      const pkg = JSON.parse(read('package.json')) as { version: string };
      expect(chartYaml).toMatchObject({
        apiVersion: 'v2',
        name: 'agentmesh',
        type: 'application',
        appVersion: pkg.version,
      });
      expect(str(chartYaml.version, 'version')).toMatch(/^\d+\.\d+\.\d+$/);
    });

    it('has a values block and a Deployment template for every app', () => {
      expect(Object.keys(obj(values.apps, 'apps')).sort()).toEqual([...APPS].sort());
      for (const app of APPS) {
        expect(Object.keys(appValues(app))).toEqual(
          expect.arrayContaining([
            'enabled',
            'replicas',
            'port',
            'resources',
            'env',
            'nodeSelector',
            'tolerations',
            'podAnnotations',
            'podDisruptionBudget',
          ]),
        );
        expect(existsSync(join(CHART, 'templates', `deployment-${app}.yaml`))).toBe(true);
        const env = obj(appValues(app).env, `apps.${app}.env`);
        expect(Object.keys(env).filter((k) => !(k in schemaFor(app)))).toEqual([]);
      }
      expect(appValues('chat-api').port).toBe(3000);
      for (const app of WORKERS) expect(appValues(app).port).toBe(DEFAULT_HEALTH_PORTS[app]);
      expect(obj(obj(values.chatApi, 'chatApi').service, 'chatApi.service')).toMatchObject({
        type: 'ClusterIP',
      });
      expect(Object.keys(obj(obj(values.chatdWorker, 'chatdWorker').autoscaling, 'autoscaling'))).toEqual(
        expect.arrayContaining(['enabled', 'minReplicas', 'maxReplicas', 'targetCPUUtilizationPercentage']),
      );
      expect(obj(values.migrations, 'migrations').enabled).toBe(true);
      expect(Object.keys(obj(values.secrets, 'secrets')).sort()).toEqual(
        ['existingSecret', ...SECRET_ENV].sort(),
      );
      const config = obj(values.config, 'config');
      for (const key of Object.keys(config)) {
        for (const app of APPS)
          expect({ key, app, known: key in schemaFor(app) }).toEqual({ key, app, known: true });
      }
    });

    it('passes helm lint --strict', async () => {
      const r = await helm(['lint', '--strict', CHART, '--values', valuesFile(baseValues)]);
      expect(r.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
      expect(r.code).toBe(0);
    });

    it('renders objects that are valid against the Kubernetes schemas, with no unknown fields', () => {
      const kinds = rendered.map(kindKey).sort();
      expect(kinds).toEqual(
        [
          ...APPS.map(() => 'apps/v1/Deployment'),
          ...APPS.map(() => 'policy/v1/PodDisruptionBudget'),
          'autoscaling/v2/HorizontalPodAutoscaler',
          'batch/v1/Job',
          'v1/ConfigMap',
          'v1/Secret',
          'v1/Secret',
          'v1/Service',
        ].sort(),
      );
      expect(schemaErrors(rendered)).toEqual([]);
      expect(unknownFieldErrors(rendered)).toEqual([]);
      for (const o of rendered) expect(obj(o.metadata, 'metadata').namespace).toBeUndefined();
    });

    it.each(APPS)(
      '%s: Deployment with its args, port, probes, grace period, metrics annotations and valid env',
      (app) => {
        const d = named(rendered, 'Deployment', `${FULLNAME}-${app}`);
        const c = container(d);
        const port = Number(appValues(app).port);
        const portName = app === 'chat-api' ? 'http' : 'health';
        expect(c.args).toEqual([app]);
        expect(c.image).toBe(`agentmesh:${String(chartYaml.appVersion)}`);
        expect(c.ports).toEqual([{ name: portName, containerPort: port, protocol: 'TCP' }]);
        expect(obj(c.livenessProbe, 'livenessProbe').httpGet).toEqual({ path: '/healthz', port: portName });
        expect(obj(c.readinessProbe, 'readinessProbe').httpGet).toEqual({ path: '/readyz', port: portName });
        expect(obj(c.startupProbe, 'startupProbe').httpGet).toEqual({ path: '/healthz', port: portName });
        expect(obj(c.resources, 'resources')).toEqual(appValues(app).resources);
        expect(obj(c.securityContext, 'securityContext')).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
        });
        expect(obj(podSpec(d).securityContext, 'pod securityContext')).toMatchObject({
          runAsNonRoot: true,
          runAsUser: 1000,
        });

        const env = containerEnv(c, rendered);
        const schema = schemaFor(app);
        expect(Object.keys(env).filter((k) => !(k in schema))).toEqual([]);
        const config = parseEnv(schema, env) as Record<string, unknown>;
        expect(config.DATABASE_URL).toBe(DB_URL);
        expect(config.NATS_TOKEN).toBe('nats-token');
        expect(config.AGENTMESH_ENCRYPTION_KEYS).toBe(ENCRYPTION_KEYS);
        expect(app === 'chat-api' ? config.HTTP_PORT : config.HEALTH_PORT).toBe(port);

        const preStop = app === 'chat-api' ? Number(obj(values.chatApi, 'chatApi').preStopSleepSeconds) : 0;
        const grace = Number(podSpec(d).terminationGracePeriodSeconds);
        expect(grace * 1000).toBeGreaterThan(Number(config.SHUTDOWN_GRACE_PERIOD) + preStop * 1000);
        if (app === 'chat-api')
          expect(obj(c.lifecycle, 'lifecycle').preStop).toEqual({
            exec: { command: ['sleep', String(preStop)] },
          });
        else expect(c.lifecycle).toBeUndefined();

        const podAnnotations = obj(
          obj(obj(obj(d.spec, 'spec').template, 'template').metadata, 'metadata').annotations,
          'annotations',
        );
        expect(podAnnotations).toMatchObject({
          'prometheus.io/scrape': 'true',
          'prometheus.io/port': String(port),
          'prometheus.io/path': '/metrics',
        });
        expect(Object.keys(podAnnotations)).toEqual(
          expect.arrayContaining(['checksum/config', 'checksum/secret']),
        );

        const spec = obj(d.spec, 'spec');
        if (app === 'chatd-worker') expect(spec.replicas).toBeUndefined();
        else expect(spec.replicas).toBe(appValues(app).replicas);
        const selector = obj(obj(spec.selector, 'selector').matchLabels, 'matchLabels') as Record<
          string,
          string
        >;
        expect(selector['app.kubernetes.io/component']).toBe(app);
        const deployments = byKind(rendered, 'Deployment');
        expect(deployments.filter((x) => matches(selector, podLabels(x)))).toEqual([d]);
      },
    );

    it('selects each app exactly with its PodDisruptionBudget, the chat-api Service and the chatd-worker HPA', () => {
      const deployments = byKind(rendered, 'Deployment');
      const selected = (selector: Record<string, string>) =>
        deployments
          .filter((d) => matches(selector, podLabels(d)))
          .map((d) => obj(d.metadata, 'metadata').name);
      for (const app of APPS) {
        const pdb = named(rendered, 'PodDisruptionBudget', `${FULLNAME}-${app}`);
        const spec = obj(pdb.spec, 'spec');
        expect(
          selected(obj(obj(spec.selector, 'selector').matchLabels, 'matchLabels') as Record<string, string>),
        ).toEqual([`${FULLNAME}-${app}`]);
        expect(spec.maxUnavailable ?? spec.minAvailable).toBeDefined();
      }
      const svc = named(rendered, 'Service', `${FULLNAME}-chat-api`);
      const svcSpec = obj(svc.spec, 'spec');
      expect(selected(obj(svcSpec.selector, 'selector') as Record<string, string>)).toEqual([
        `${FULLNAME}-chat-api`,
      ]);
      expect(svcSpec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
      expect(svcSpec.type).toBe('ClusterIP');

      const hpa = obj(named(rendered, 'HorizontalPodAutoscaler', `${FULLNAME}-chatd-worker`).spec, 'spec');
      const autoscaling = obj(obj(values.chatdWorker, 'chatdWorker').autoscaling, 'autoscaling');
      expect(hpa.scaleTargetRef).toEqual({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: `${FULLNAME}-chatd-worker`,
      });
      expect(hpa).toMatchObject({
        minReplicas: autoscaling.minReplicas,
        maxReplicas: autoscaling.maxReplicas,
      });
      expect(arr(hpa.metrics, 'metrics')[0]).toEqual({
        type: 'Resource',
        resource: {
          name: 'cpu',
          target: { type: 'Utilization', averageUtilization: autoscaling.targetCPUUtilizationPercentage },
        },
      });
    });

    it('runs migrations in a pre-install/pre-upgrade hook Job that has its secrets before it runs', () => {
      const job = named(rendered, 'Job', `${FULLNAME}-migrate`);
      const hookSecret = named(rendered, 'Secret', `${FULLNAME}-migrate`);
      const appSecret = named(rendered, 'Secret', `${FULLNAME}-secrets`);
      expect(annotations(job)).toEqual({
        'helm.sh/hook': 'pre-install,pre-upgrade',
        'helm.sh/hook-weight': '0',
        'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded',
      });
      expect(annotations(hookSecret)['helm.sh/hook']).toBe('pre-install,pre-upgrade');
      expect(Number(annotations(hookSecret)['helm.sh/hook-weight'])).toBeLessThan(
        Number(annotations(job)['helm.sh/hook-weight']),
      );
      expect(annotations(appSecret)['helm.sh/hook']).toBeUndefined();
      expect(hookSecret.data).toEqual(appSecret.data);

      const c = container(job);
      expect(c.args).toEqual(['migrate']);
      expect(podSpec(job).restartPolicy).toBe('Never');
      expect(c.envFrom).toEqual([{ secretRef: { name: `${FULLNAME}-migrate` } }]);
      const env = containerEnv(c, rendered);
      expect(Object.keys(env).filter((k) => !(k in commonSchema))).toEqual([]);
      expect((parseEnv(commonSchema, env) as Record<string, unknown>).DATABASE_URL).toBe(DB_URL);

      const configMap = named(rendered, 'ConfigMap', `${FULLNAME}-config`);
      for (const d of byKind(rendered, 'Deployment')) {
        expect(container(d).envFrom).toEqual([
          { configMapRef: { name: obj(configMap.metadata, 'metadata').name } },
          { secretRef: { name: `${FULLNAME}-secrets` } },
        ]);
      }
    });

    it('uses secrets.existingSecret everywhere instead of rendering Secrets', async () => {
      const r = await helmTemplate({ secrets: { existingSecret: 'agentmesh-prod' } });
      expect(r.stderr).toBe('');
      expect(byKind(r.objects, 'Secret')).toEqual([]);
      const external = { 'agentmesh-prod': { DATABASE_URL: DB_URL } };
      for (const d of [...byKind(r.objects, 'Deployment'), ...byKind(r.objects, 'Job')]) {
        const c = container(d);
        expect(arr(c.envFrom, 'envFrom')).toContainEqual({ secretRef: { name: 'agentmesh-prod' } });
        expect(containerEnv(c, r.objects, external).DATABASE_URL).toBe(DB_URL);
        expect(Object.keys(annotations(obj(obj(d.spec, 'spec').template, 'template')))).not.toContain(
          'checksum/secret',
        );
      }
      expect(schemaErrors(r.objects)).toEqual([]);
    });

    it('renders operator settings: fixed worker replicas, disabled apps, NodePort, scheduling, pull secrets', async () => {
      const r = await helmTemplate({
        ...baseValues,
        image: { repository: 'registry.example.com/agentmesh', tag: '1.2.3', pullPolicy: 'Always' },
        imagePullSecrets: [{ name: 'regcred' }],
        config: {
          LOG_LEVEL: 'debug',
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318',
          SHUTDOWN_GRACE_PERIOD: '50s',
        },
        terminationGracePeriodSeconds: 70,
        chatApi: { service: { type: 'NodePort', port: 8080, nodePort: 30080 } },
        chatdWorker: { autoscaling: { enabled: false } },
        migrations: { enabled: false },
        apps: {
          'chat-api': {
            replicas: 4,
            env: { SECURE_AUTH_COOKIE: true, TRUST_PROXY: true },
          },
          'chatd-worker': {
            replicas: 6,
            nodeSelector: { pool: 'agents' },
            tolerations: [{ key: 'agents', operator: 'Exists', effect: 'NoSchedule' }],
            podAnnotations: { team: 'agents' },
          },
          'telemetry-collector': { enabled: false },
          dbpurge: { podDisruptionBudget: { enabled: false }, env: { RETENTION_API_KEYS: '720h' } },
        },
      });
      expect(r.stderr).toBe('');
      expect(schemaErrors(r.objects)).toEqual([]);
      expect(byKind(r.objects, 'HorizontalPodAutoscaler')).toEqual([]);
      expect(byKind(r.objects, 'Job')).toEqual([]);
      expect(byKind(r.objects, 'Secret').map((s) => obj(s.metadata, 'metadata').name)).toEqual([
        `${FULLNAME}-secrets`,
      ]);
      expect(
        byKind(r.objects, 'Deployment')
          .map((d) => obj(d.metadata, 'metadata').name)
          .sort(),
      ).toEqual(
        APPS.filter((a) => a !== 'telemetry-collector')
          .map((a) => `${FULLNAME}-${a}`)
          .sort(),
      );
      expect(
        byKind(r.objects, 'PodDisruptionBudget')
          .map((d) => obj(d.metadata, 'metadata').name)
          .sort(),
      ).toEqual(['chat-api', 'chatd-worker', 'aibridge-recorder'].map((a) => `${FULLNAME}-${a}`).sort());
      const worker = named(r.objects, 'Deployment', `${FULLNAME}-chatd-worker`);
      expect(obj(worker.spec, 'spec').replicas).toBe(6);
      expect(podSpec(worker)).toMatchObject({
        nodeSelector: { pool: 'agents' },
        tolerations: [{ key: 'agents', operator: 'Exists', effect: 'NoSchedule' }],
        imagePullSecrets: [{ name: 'regcred' }],
        terminationGracePeriodSeconds: 70,
      });
      expect(container(worker)).toMatchObject({
        image: 'registry.example.com/agentmesh:1.2.3',
        imagePullPolicy: 'Always',
      });
      expect(annotations(obj(obj(worker.spec, 'spec').template, 'template'))).toMatchObject({
        team: 'agents',
      });
      const api = named(r.objects, 'Deployment', `${FULLNAME}-chat-api`);
      expect(obj(api.spec, 'spec').replicas).toBe(4);
      const apiConfig = parseEnv(schemaFor('chat-api'), containerEnv(container(api), r.objects)) as Record<
        string,
        unknown
      >;
      expect(apiConfig).toMatchObject({
        SECURE_AUTH_COOKIE: true,
        TRUST_PROXY: true,
        LOG_LEVEL: 'debug',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318',
        SHUTDOWN_GRACE_PERIOD: 50_000,
      });
      const purge = parseEnv(
        schemaFor('dbpurge'),
        containerEnv(container(named(r.objects, 'Deployment', `${FULLNAME}-dbpurge`)), r.objects),
      );
      expect((purge as Record<string, unknown>).RETENTION_API_KEYS).toBe(720 * 3_600_000);
      expect(obj(named(r.objects, 'Service', `${FULLNAME}-chat-api`).spec, 'spec').ports).toEqual([
        { name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP', nodePort: 30080 },
      ]);
    });

    it.each([
      ['no DATABASE_URL and no existingSecret', {}, /secrets\.DATABASE_URL is required/],
      [
        'a grace period Kubernetes would cut short',
        { ...baseValues, terminationGracePeriodSeconds: 25 },
        /must exceed config\.SHUTDOWN_GRACE_PERIOD/,
      ],
      [
        'a shutdown grace period that is not a duration',
        { ...baseValues, config: { SHUTDOWN_GRACE_PERIOD: 'soon' } },
        /SHUTDOWN_GRACE_PERIOD/,
      ],
      ['a misspelt per-app key', { ...baseValues, apps: { 'chat-api': { replica: 3 } } }, /replica/],
      ['an unknown app', { ...baseValues, apps: { chat_api: { enabled: true } } }, /chat_api/],
      [
        'a port variable set through env',
        { ...baseValues, apps: { dbpurge: { env: { HEALTH_PORT: '9999' } } } },
        /apps\.dbpurge\.env\.HEALTH_PORT is set by the chart/,
      ],
      [
        'HPA minReplicas above maxReplicas',
        { ...baseValues, chatdWorker: { autoscaling: { minReplicas: 20 } } },
        /minReplicas \(20\) must not exceed maxReplicas/,
      ],
      [
        'a PDB with both minAvailable and maxUnavailable',
        { ...baseValues, apps: { dbpurge: { podDisruptionBudget: { minAvailable: 1 } } } },
        /set minAvailable or maxUnavailable, not both/,
      ],
    ] as const)('refuses to render with %s', async (_case, vals, message) => {
      const r = await helmTemplate(vals as Obj);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
    });

    it('renders NOTES.txt with how to reach the API and where the migration ran', async () => {
      const copy = mkdtempSync(join(helmHome, 'chart-'));
      cpSync(CHART, copy, { recursive: true });
      const notes = readFileSync(join(copy, 'templates', 'NOTES.txt'), 'utf8');
      rmSync(join(copy, 'templates', 'NOTES.txt'));
      writeFileSync(
        join(copy, 'templates', '_notes-check.tpl'),
        `{{- define "notes-check" -}}\n${notes}{{- end -}}\n`,
      );
      writeFileSync(
        join(copy, 'templates', 'notes-check.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-check\ndata:\n  notes: {{ include "notes-check" . | toJson }}\n',
      );
      const r = await helmTemplate(baseValues, copy);
      expect(r.stderr).toBe('');
      const text = str(obj(named(r.objects, 'ConfigMap', 'notes-check').data, 'data').notes, 'notes');
      expect(text).toContain(`port-forward svc/${FULLNAME}-chat-api 3000:80`);
      expect(text).toContain(`logs job/${FULLNAME}-migrate`);
      for (const app of APPS) expect(text).toContain(`${app}:`);
    });
  });
});
