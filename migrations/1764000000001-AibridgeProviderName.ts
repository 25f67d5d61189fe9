import { MigrationInterface, QueryRunner } from 'typeorm';

// AI Bridge: provider_name, the provider *instance* an interception went through (e.g.
// copilot-business), beside provider, its *type* (copilot). Rows recorded before the column
// existed went through the instance named after their type, so they are backfilled from
// provider.
//
// The sessions list filters on provider_name by equality. A few instances share the traffic
// unevenly, so a filter on a small instance (the case the column exists for) is selective and
// reads through idx_aibridge_interceptions_provider_name (built after the backfill, so the
// UPDATE does not maintain it row by row). down drops the column: the previous schema has no place for it, and a
// later up sets every row's name back to its provider type.
export class AibridgeProviderName1764000000001 implements MigrationInterface {
  name = 'AibridgeProviderName1764000000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE aibridge_interceptions ADD COLUMN provider_name text NOT NULL DEFAULT '';
      UPDATE aibridge_interceptions SET provider_name = provider;
      CREATE INDEX idx_aibridge_interceptions_provider_name ON aibridge_interceptions (provider_name);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX idx_aibridge_interceptions_provider_name;
      ALTER TABLE aibridge_interceptions DROP COLUMN provider_name;
    `);
  }
}
