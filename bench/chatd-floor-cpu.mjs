// Postgres CPU per acquired job of the acquisition floor (shared/bench-floors/pg_acquire.js,
// 2 workers, batch 10, done each / none), to set beside chatd-acquire.mjs's "Postgres backend
// CPU per 1,000 chats": on a shared machine wall-time throughput moves with other load, the
// CPU the backends spend per job much less. Runs pg_acquire.js with RUNS=1 REPS times per done
// mode and samples /proc every 50 ms for the backends of database `floors`, except the first one
// seen (the script's main connection: fill, vacuum, checkpoint).
// Needs FLOORS_DIR as bench/chatd-floors.mjs. Usage: FLOORS_DIR=… node bench/chatd-floor-cpu.mjs
// (env: REPS=2 DONE=each,none MAX_S=10; BENCH_FLOORS_SRC, default ../shared/bench-floors)
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { median, root, round, writeResult } from './chatd-common.mjs';

const src = resolve(process.env.BENCH_FLOORS_SRC ?? join(root, '../shared/bench-floors'));
const floorsDir = process.env.FLOORS_DIR;
if (!floorsDir || !existsSync(join(floorsDir, 'node_modules/pg'))) {
  console.error('FLOORS_DIR must point at a directory where shared/bench-floors/package.json is installed');
  process.exit(2);
}
const REPS = Number(process.env.REPS ?? 2);
const DONES = (process.env.DONE ?? 'each,none').split(',');
const MAX_S = process.env.MAX_S ?? '10';

function backendsCpu() {
  const out = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (!cmd.startsWith('postgres:') || !cmd.includes(' floors ')) continue;
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      out.set(d, (Number(f[11]) + Number(f[12])) * 10); // ms (USER_HZ 100)
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

function runOnce(done) {
  return new Promise((res, rej) => {
    const env = {
      ...process.env,
      FLOORS_DIR: floorsDir,
      RUNS: '1',
      MAX_S,
      BATCHES: '10',
      LANES: '1',
      DONE: done,
    };
    const child = spawn(process.execPath, [join(src, 'pg_acquire.js')], { cwd: src, env });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const cpu = new Map();
    let first;
    const t = setInterval(() => {
      for (const [pid, ms] of backendsCpu()) {
        first ??= pid;
        cpu.set(pid, ms);
      }
    }, 50);
    child.on('exit', (code) => {
      clearInterval(t);
      const m = /: (\d+) jobs in ([\d.]+) s = (\d+) jobs\/s/.exec(err);
      if (code !== 0 || !m) return rej(new Error(`pg_acquire.js failed (${code}): ${err.slice(-500)}`));
      let ms = 0;
      for (const [pid, v] of cpu) if (pid !== first) ms += v;
      const jobs = Number(m[1]);
      res({ jobs, jobs_per_s: Number(m[3]), pg_backend_cpu_ms_per_1000_jobs: round((1000 * ms) / jobs, 0) });
    });
  });
}

const results = {};
for (const done of DONES) {
  const runs = [];
  for (let i = 0; i < REPS; i++) {
    runs.push(await runOnce(done));
    console.error(`done=${done} rep ${i}: ${JSON.stringify(runs.at(-1))}`);
  }
  results[done] = {
    pg_backend_cpu_ms_per_1000_jobs_median: median(runs.map((r) => r.pg_backend_cpu_ms_per_1000_jobs)),
    runs,
  };
}
await writeResult('chatd-floor-cpu', {
  what: 'Postgres backend CPU per 1,000 jobs of pg_acquire.js (2 workers, batch 10), by done mode',
  source: src,
  results,
});
