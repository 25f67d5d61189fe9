import { MigrationInterface, QueryRunner } from 'typeorm';

// The worker's acquire reads the oldest pending chats in index order instead of reading and
// sorting every pending chat (5–8 ms per statement at 20,000 pending, under 1 ms with this
// index; see docs/benchmarks.md, "Chat engine").
//
// Decisions:
// - The index is on a stored generated column, not on updated_at itself. `pending_since` is
//   updated_at while the chat is pending and not archived, NULL otherwise; the partial index
//   holds only the non-NULL ones. Indexing updated_at directly (even partially) would make
//   every update that touches it non-HOT, for every chat: each message insert touches
//   updated_at of a running chat, and would write 17 instead of 8 WAL records (1,571 instead
//   of 686 bytes) for the new index entries. Here the indexed value of a running chat stays
//   NULL, so those updates stay HOT; only status changes (never HOT anyway) move a chat in or
//   out of the index.
// - Acquire keeps `status = 'pending' AND NOT archived` in its WHERE (re-checked on the row it
//   locks) and adds `pending_since IS NOT NULL` so the planner picks this index.
// - idx_chats_pending (status) WHERE pending goes: acquire was its only reader, and while it
//   existed the planner took it whenever the statistics were older than a burst of pending
//   chats (estimated 1 row), reading and sorting every pending chat again (6–12 instead of
//   0.6 ms per statement at 20,000 pending). Without it the ordered scan is the only index.
// - Adding a stored generated column rewrites `chats` under an exclusive lock: fine at the
//   current sizes, to be planned for on a large table.
export class ChatAcquireIndex1763900000000 implements MigrationInterface {
  name = 'ChatAcquireIndex1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE chats ADD COLUMN pending_since timestamptz
        GENERATED ALWAYS AS (CASE WHEN status = 'pending' AND NOT archived THEN updated_at END) STORED;
      CREATE INDEX idx_chats_pending_since ON chats (pending_since) WHERE pending_since IS NOT NULL;
      DROP INDEX idx_chats_pending;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE INDEX idx_chats_pending ON chats (status) WHERE status = 'pending';
      DROP INDEX idx_chats_pending_since;
      ALTER TABLE chats DROP COLUMN pending_since;
    `);
  }
}
