// Real app processes for end-to-end tests: the built apps (dist/) started with `node`, a
// private nats-server on a free port (so a test may stop and restart it without disturbing
// other suites), and small polling helpers.
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '../../..');

export function buildDist(): void {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/build.mjs'), '--quiet'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`);
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no port'))));
    });
  });
}

export interface AppProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `dist/<entry>` with exactly the given environment (plus PATH). */
export function startProcess(entry: string, env: Record<string, string>, args: string[] = []): AppProcess {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', entry), ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('exit', (code, signal) => res({ code, signal })),
  );
  return { child, output: () => out, exited };
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

/** A private nats-server with JetStream; stop() and start() keep port and storage. */
export class PrivateNats {
  private proc?: ChildProcess;
  private readonly store = mkdtempSync(join(tmpdir(), 'am-nats-'));
  constructor(readonly port: number) {}

  static async create(): Promise<PrivateNats> {
    const n = new PrivateNats(await freePort());
    await n.start();
    return n;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const bin = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
    this.proc = spawn(bin, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.store], {
      stdio: 'ignore',
    });
    await waitFor('private nats-server', async () => {
      const { connect } = await import('@nats-io/transport-node');
      const nc = await connect({ servers: this.url, timeout: 500 });
      await nc.close();
      return true;
    });
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise((res) => {
      p.once('exit', res);
      p.kill('SIGKILL');
    });
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.store, { recursive: true, force: true });
  }
}
