// Prints the chatd benchmark table (metric, ours, floor, ratio, goal, met?) in Markdown from
// bench/results/chatd-{pickup,acquire,heartbeat}.json and the same-session floors in
// chatd-floors.json (bench/chatd-floors.mjs); what-if, statement and message-touch results
// are listed when present.
// Usage: node bench/chatd-report.mjs
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './chatd-common.mjs';

const load = (name) => {
  const p = join(root, 'bench/results', `${name}.json`);
  return existsSync(p) ? JSON.parse(readFileSync(p, 'utf8')) : undefined;
};
const pickup = load('chatd-pickup');
const acquire = load('chatd-acquire');
const heartbeat = load('chatd-heartbeat');
const floors = load('chatd-floors');
const acquireWhatIf = load('chatd-acquire-whatif');
const heartbeatWhatIf = load('chatd-heartbeat-whatif');
const statement = load('chatd-acquire-statement');
const touch = load('chatd-message-touch');

const floorLine = (key, match) => floors?.results[key]?.lines.find(match);
const fPickup = (mode) => floorLine('pickup', (l) => l.name === 'pickup' && l.mode === mode);
const fAcquire = (done) =>
  floorLine('acquire', (l) => l.name === 'pg_acquire' && l.done === done && l.batch === 10);
const fHeartbeat = (v) => floorLine('heartbeat', (l) => l.name === 'pg_heartbeat' && l.variant === v);

const fmt = (x, unit) =>
  x === undefined || x === null
    ? '—'
    : `${Number(x).toLocaleString('en-US', { maximumFractionDigits: Math.abs(x) >= 100 ? 0 : 2 })}${unit}`;
const rows = [];
/** `lower`: smaller is better (latency); `goal`: [op, value] or undefined (report only). */
function row(metric, ours, floor, unit, goal, lower = true) {
  const ratio = ours !== undefined && floor ? `${(ours / floor).toFixed(2)}×` : '—';
  let met = 'report';
  if (goal && ours !== undefined) met = (lower ? ours <= goal : ours >= goal) ? 'yes' : '**no**';
  const goalText = goal ? `${lower ? '≤' : '≥'} ${goal.toLocaleString('en-US')}${unit}` : '—';
  rows.push(`| ${metric} | ${fmt(ours, unit)} | ${fmt(floor, unit)} | ${ratio} | ${goalText} | ${met} |`);
}

if (pickup) {
  const w = pickup.results.wake;
  const p = pickup.results.poll;
  if (w) {
    row('pickup p50, wake', w.p50_ms_median, fPickup('nats')?.p50_ms_median, ' ms', 5);
    row('pickup p95, wake', w.p95_ms_median, undefined, ' ms');
    row('pickup p99, wake', w.p99_ms_median, fPickup('nats')?.p99_ms_median, ' ms', 25);
  }
  if (p) {
    row('pickup p50, 1 s poll only', p.p50_ms_median, fPickup('poll')?.p50_ms_median, ' ms');
    row('pickup p99, 1 s poll only', p.p99_ms_median, fPickup('poll')?.p99_ms_median, ' ms');
  }
}
if (acquire) {
  const r = acquire.results;
  if (r.sql)
    row(
      'acquisitions/s, 2 workers, turn = one UPDATE',
      r.sql.chats_per_s_median,
      fAcquire('each')?.jobs_per_s_median,
      '/s',
      5000,
      false,
    );
  if (r.persistence)
    row(
      'acquisitions/s, 2 workers, turn = TurnPersistence.finishTurn',
      r.persistence.chats_per_s_median,
      fAcquire('each')?.jobs_per_s_median,
      '/s',
      5000,
      false,
    );
  if (r.none)
    row(
      'acquisitions/s, 2 workers, acquire only',
      r.none.chats_per_s_median,
      fAcquire('none')?.jobs_per_s_median,
      '/s',
      5000,
      false,
    );
}
if (heartbeat) {
  const h = heartbeat.results;
  const perInterval = h.heartbeat_statements_per_interval;
  rows.push(
    `| heartbeat statements per interval (10k chats, one replica) | ${perInterval} | 1 | ${perInterval.toFixed(2)}× | = 1 | ${perInterval === 1 ? 'yes' : '**no**'} |`,
  );
  for (const [v, label] of [
    ['heartbeat_at_hot', 'floor: SET heartbeat_at (HOT shape)'],
    ['updated_at', 'floor: SET updated_at (non-HOT)'],
  ]) {
    row(`heartbeat tick p50, ${label}`, h.tick_p50_ms_median, fHeartbeat(v)?.p50_ms_median, ' ms', 100);
    row(`heartbeat tick p99, ${label}`, h.tick_p99_ms_median, fHeartbeat(v)?.p99_ms_median, ' ms', 100);
  }
}

console.log('| metric | ours | floor | ratio (ours/floor) | goal | met? |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(r);
const when = (x) => x?.at ?? 'missing';
console.log(
  `\nmeasured: pickup ${when(pickup)}, acquire ${when(acquire)}, heartbeat ${when(heartbeat)}; floors ${when(floors)}`,
);
if (acquireWhatIf) {
  const r = acquireWhatIf.results;
  console.log(
    `what-if (${acquireWhatIf.what_if}): acquisitions/s ${Object.entries(r)
      .map(([k, v]) => `${k} ${v.chats_per_s_median}`)
      .join(', ')}; Postgres CPU per 1,000 chats ${Object.entries(r)
      .map(([k, v]) => `${k} ${v.pg_backend_cpu_ms_per_1000_chats_median} ms`)
      .join(', ')} (${acquireWhatIf.at})`,
  );
}
if (acquire) {
  console.log(
    `Postgres backend CPU per 1,000 chats (acquire bench): ${Object.entries(acquire.results)
      .map(([k, v]) => `${k} ${v.pg_backend_cpu_ms_per_1000_chats_median} ms`)
      .join(', ')}; other load before: ${acquire.other_load_busy_pct_before} % busy`,
  );
}
if (heartbeatWhatIf) {
  const h = heartbeatWhatIf.results;
  console.log(
    `what-if (${heartbeatWhatIf.what_if}): tick p50 ${h.tick_p50_ms_median} ms, p99 ${h.tick_p99_ms_median} ms, HOT share ${h.hot_update_share} (${heartbeatWhatIf.at})`,
  );
}
if (heartbeat) console.log(`heartbeat HOT share: ${heartbeat.results.hot_update_share}`);
if (touch) {
  for (const [k, v] of Object.entries(touch.results))
    console.log(
      `message insert, ${k}: HOT ${v.hot_update_share}, WAL ${v.wal_bytes_per_message} B / ${v.wal_records_per_message} records per message, Postgres CPU ${v.pg_backend_cpu_us_per_message} µs per message, ${v.messages_per_s}/s (${touch.at})`,
    );
}
if (statement) {
  for (const [k, v] of Object.entries(statement.results))
    console.log(
      `acquire statement alone, ${k}, p50 by pending chats: ${Object.entries(v)
        .map(([n, x]) => `${n}: ${x.p50_ms} ms`)
        .join(', ')} (${statement.at})`,
    );
}
