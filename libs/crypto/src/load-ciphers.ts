// How an app gets its Ciphers at boot: parse the configured keys, register them in
// dbcrypt_keys and check them against it (a wrong key list fails the start, not the first
// read), and warn about active database keys that are not configured.
import { Ciphers } from './cipher';
import { syncKeys } from './key-store';
import { parseKeys } from './keys';
import type { Queryable } from './queryable';

export async function loadCiphers(
  q: Queryable,
  rawKeys: string | undefined,
  warn: (msg: string, detail?: Record<string, unknown>) => void,
): Promise<Ciphers> {
  const ciphers = new Ciphers(parseKeys(rawKeys), { warnOnce: (msg) => warn(msg) });
  const { unconfigured } = await syncKeys(q, ciphers);
  if (unconfigured.length > 0)
    warn('database has active encryption keys that are not configured', { key_ids: unconfigured });
  return ciphers;
}
