// The ordered list of every migration. Apps import it only to know the schema version they
// expect (/readyz); `npm run migrate` applies it.
import { Identity1763700000000 } from './1763700000000-Identity';
import { Chats1763800000000 } from './1763800000000-Chats';

export const ALL_MIGRATIONS = [Identity1763700000000, Chats1763800000000];
export const EXPECTED_MIGRATION = ALL_MIGRATIONS[ALL_MIGRATIONS.length - 1].name;
