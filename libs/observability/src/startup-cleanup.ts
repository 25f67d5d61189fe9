// Resources opened while the app is being built (database pools, the NATS connection) are
// registered here, so a failed start can close them: Nest runs no shutdown hooks for an app
// whose construction or init threw, and an open pool would keep the process (or a test
// worker) alive.
import { Injectable } from '@nestjs/common';

@Injectable()
export class StartupCleanup {
  private readonly closers: (() => Promise<unknown>)[] = [];

  add(close: () => Promise<unknown>): void {
    this.closers.push(close);
  }

  /** Closes everything registered, newest first, ignoring individual failures. */
  async runAll(): Promise<void> {
    for (const close of this.closers.splice(0).reverse()) await close().catch(() => undefined);
  }
}
