// The ordered list of every migration. Apps import it only to know the schema version they
// expect (/readyz); `npm run migrate` applies it.
import { Identity1763700000000 } from './1763700000000-Identity';
import { Chats1763800000000 } from './1763800000000-Chats';
import { ChatAcquireIndex1763900000000 } from './1763900000000-ChatAcquireIndex';
import { AibridgeInterceptions1764000000000 } from './1764000000000-AibridgeInterceptions';
import { AibridgeProviderName1764000000001 } from './1764000000001-AibridgeProviderName';
import { AibridgeCacheTokens1764000000002 } from './1764000000002-AibridgeCacheTokens';
import { AibridgeInitiatorStats1764000000003 } from './1764000000003-AibridgeInitiatorStats';

export const ALL_MIGRATIONS = [
  Identity1763700000000,
  Chats1763800000000,
  ChatAcquireIndex1763900000000,
  AibridgeInterceptions1764000000000,
  AibridgeProviderName1764000000001,
  AibridgeCacheTokens1764000000002,
  AibridgeInitiatorStats1764000000003,
];
export const EXPECTED_MIGRATION = ALL_MIGRATIONS[ALL_MIGRATIONS.length - 1].name;
