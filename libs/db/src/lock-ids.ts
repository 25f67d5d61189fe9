// Every Postgres advisory lock id agentmesh takes, in one registry so two features can never
// collide on a number. Ids are 64-bit; the high 32 bits spell "agmh" so they do not clash
// with locks of other software sharing the database.
const BASE = 0x61676d68n << 32n;

export const LockIds = {
  /** Held (session level) while `npm run migrate` applies migrations. */
  migrations: BASE + 1n,
  /** dbpurge: one replica purges per tick (transaction level, try-lock). */
  dbpurge: BASE + 2n,
  /** telemetry-collector: one replica sends the periodic snapshot. */
  telemetrySnapshot: BASE + 3n,
  /** dbcrypt key rotation: one rotation at a time. */
  dbcryptRotate: BASE + 4n,
  /** Creating the first user: serializes concurrent POST /users/first. */
  firstUser: BASE + 5n,
  /** Outbox relay: one relay at a time publishes, so events leave in id order. */
  outboxRelay: BASE + 6n,
} as const;

export type LockName = keyof typeof LockIds;

/** The id as the decimal string node-postgres sends for a bigint parameter. */
export function lockId(name: LockName): string {
  return LockIds[name].toString();
}
