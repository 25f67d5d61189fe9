// A TCP proxy in front of the test NATS server, for tests that need the network between a
// client and the server to misbehave: cut() drops every open connection (the client sees a
// network failure and reconnects through the proxy); stall() holds back whatever clients
// send to the server until release() forwards it, as on a slow network.
import { AddressInfo, connect as tcpConnect, createServer, Server, Socket } from 'node:net';
import { TEST_NATS_URL } from './nats-admin';

export class TcpProxy {
  private stalled = false;
  private held: { upstream: Socket; chunk: Buffer }[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(targetUrl = TEST_NATS_URL): Promise<TcpProxy> {
    const target = new URL(targetUrl);
    const server = createServer();
    const proxy = new TcpProxy(server);
    server.on('connection', (client) => {
      const upstream = tcpConnect(Number(target.port || 4222), target.hostname);
      proxy.sockets.add(client).add(upstream);
      upstream.on('data', (chunk: Buffer) => client.write(chunk));
      client.on('data', (chunk: Buffer) => {
        if (proxy.stalled) proxy.held.push({ upstream, chunk });
        else upstream.write(chunk);
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
        proxy.sockets.delete(client);
        proxy.sockets.delete(upstream);
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** The NATS URL that reaches the server through this proxy. */
  get url(): string {
    return `nats://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Drops every open connection; new connections (reconnects) are proxied again. */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** From now on, holds back what clients send to the server (the server's side still flows). */
  stall(): void {
    this.stalled = true;
  }

  /** What clients sent while stalled and is still held back. */
  stalledText(): string {
    return Buffer.concat(this.held.map((h) => h.chunk)).toString('latin1');
  }

  /** Ends the stall: forwards everything held back, in order, and stops holding. */
  release(): void {
    this.stalled = false;
    for (const h of this.held) h.upstream.write(h.chunk);
    this.held = [];
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
