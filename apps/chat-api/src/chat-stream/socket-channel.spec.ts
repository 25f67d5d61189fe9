// SocketChannel against a fake socket: keepalive pings and dropping a silent peer,
// backpressure, close handlers run once, and sends reporting whether they were written.
import { EventEmitter } from 'node:events';
import pino from 'pino';
import type { WebSocket } from 'ws';
import { SocketChannel } from './socket-channel';

class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readonly CONNECTING = 0;
  readyState = 1;
  bufferedAmount = 0;
  sent: string[] = [];
  pings = 0;
  terminated = 0;
  closedWith?: [number, string];
  private writes: ((err?: Error) => void)[] = [];
  send(data: string, cb?: (err?: Error) => void) {
    this.sent.push(data);
    this.bufferedAmount += data.length;
    if (cb) this.writes.push(cb);
  }
  /** The kernel took everything: write callbacks fire. */
  flush() {
    this.bufferedAmount = 0;
    for (const cb of this.writes.splice(0)) cb();
  }
  /** The connection broke: pending write callbacks get the error. */
  fail() {
    for (const cb of this.writes.splice(0)) cb(new Error('socket destroyed'));
  }
  ping() {
    this.pings++;
  }
  terminate() {
    this.terminated++;
    if (this.readyState !== 3) {
      this.readyState = 3;
      this.emit('close', 1006, Buffer.alloc(0));
    }
  }
  close(code: number, reason: string) {
    this.closedWith = [code, reason];
    this.readyState = 2;
  }
}

const logger = pino({ level: 'silent' });
const opts = { pingIntervalMs: 1000, maxBufferedBytes: 100, closeTimeoutMs: 500 };

function channel() {
  const ws = new FakeSocket();
  return { ws, ch: new SocketChannel(ws as unknown as WebSocket, opts, logger) };
}

afterEach(() => jest.useRealTimers());

it('pings every interval and drops a peer that did not answer the previous ping', () => {
  jest.useFakeTimers();
  const { ws } = channel();
  jest.advanceTimersByTime(1000);
  expect(ws.pings).toBe(1);
  ws.emit('pong');
  jest.advanceTimersByTime(1000);
  expect(ws.pings).toBe(2);
  expect(ws.terminated).toBe(0);
  jest.advanceTimersByTime(1000);
  expect(ws.terminated).toBe(1);
});

it('drops a client that leaves more than the limit unread', () => {
  const { ws, ch } = channel();
  ch.send(['x'.repeat(60)]);
  expect(ws.terminated).toBe(0);
  ch.send(['y'.repeat(60)]);
  expect(ws.terminated).toBe(1);
  expect(ch.closed).toBe(true);
  ch.send(['z']);
  expect(ws.sent).toHaveLength(2);
});

it('runs the close handlers once, in order, and then settles done', async () => {
  const { ws, ch } = channel();
  const calls: string[] = [];
  ch.onClose(() => void calls.push('a'));
  ch.onClose(async () => {
    calls.push('b');
    throw new Error('logged, not fatal');
  });
  ch.onClose(() => void calls.push('c'));
  ch.close(1001, 'bye');
  expect(ws.closedWith).toEqual([1001, 'bye']);
  ws.emit('close', 1001, Buffer.from('bye'));
  ws.emit('close', 1001, Buffer.from('bye'));
  await ch.done;
  expect(calls).toEqual(['a', 'b', 'c']);
});

it('destroys the socket when the close handshake does not finish in time', () => {
  jest.useFakeTimers();
  const { ws, ch } = channel();
  ch.close(1000, 'done');
  expect(ws.terminated).toBe(0);
  jest.advanceTimersByTime(500);
  expect(ws.terminated).toBe(1);
});

it('paces a large send by the socket writes instead of dropping the client', async () => {
  const { ws, ch } = channel();
  const frames = Array.from({ length: 5 }, (_, i) => `${i}`.repeat(60));
  const sending = ch.sendPaced(frames);
  await new Promise((r) => setImmediate(r));
  expect(ws.sent).toHaveLength(2); // over the limit after two frames: waiting for the writes
  ws.flush();
  await new Promise((r) => setImmediate(r));
  expect(ws.sent).toHaveLength(4);
  ws.flush();
  await new Promise((r) => setImmediate(r));
  expect(ws.sent).toEqual(frames);
  let settled = false;
  void sending.then(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  expect(settled).toBe(false); // the last frame is not written yet
  ws.flush();
  await expect(sending).resolves.toBe(true);
  expect(ws.terminated).toBe(0);
});

it('stops a paced send when the socket closes', async () => {
  const { ws, ch } = channel();
  const sending = ch.sendPaced(['a'.repeat(150), 'b', 'c']);
  ws.terminate();
  await expect(sending).resolves.toBe(false);
  expect(ws.sent).toEqual(['a'.repeat(150)]);
});

it('reports a paced send as unsent when the socket closes before the last write completes', async () => {
  const { ws, ch } = channel();
  const sending = ch.sendPaced(['a', 'b']);
  await new Promise((r) => setImmediate(r));
  expect(ws.sent).toEqual(['a', 'b']);
  ws.terminate();
  await expect(sending).resolves.toBe(false);
});

it('reports a paced send as unsent when a write fails', async () => {
  const { ws, ch } = channel();
  const sending = ch.sendPaced(['a']);
  ws.fail();
  await expect(sending).resolves.toBe(false);
});

it('confirms a send once its last frame is written, never when the write failed', () => {
  const { ws, ch } = channel();
  const confirmed: string[] = [];
  ch.send(['a', 'b'], () => confirmed.push('ab'));
  ch.send(['c']);
  expect(confirmed).toEqual([]);
  ws.flush();
  expect(confirmed).toEqual(['ab']);
  ch.send(['d'], () => confirmed.push('d'));
  ws.fail();
  expect(confirmed).toEqual(['ab']);
  ws.terminate();
  ch.send(['e'], () => confirmed.push('e'));
  expect(ws.sent).toEqual(['a', 'b', 'c', 'd']);
  expect(confirmed).toEqual(['ab']);
});
