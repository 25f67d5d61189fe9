// chat-api registers its encryption keys at boot and refuses keys that cannot read the data.
import { chatApiSchema, loadConfig } from '@agentmesh/config';
import { keyDigest } from '@agentmesh/crypto';
import { startApp } from '@agentmesh/observability';
import { appTestEnv, deleteStreamsForPrefix, randomPrefix, useTestDatabase } from '@agentmesh/testing';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { chatApiOptions } from '../src/bootstrap';

describe('encryption keys at boot', () => {
  const db = useTestDatabase();
  const prefix = randomPrefix();
  afterAll(() => deleteStreamsForPrefix(prefix));
  const boot = (keys: Buffer[]) =>
    startApp(
      chatApiOptions(() =>
        loadConfig(
          chatApiSchema,
          appTestEnv(db.url, prefix, {
            AGENTMESH_ENCRYPTION_KEYS: keys.map((k) => k.toString('base64')).join(','),
          }),
        ),
      ),
    );

  it('registers the configured key, then refuses to start with only an unrelated key', async () => {
    const a = randomBytes(32);
    const app = await boot([a]);
    await app.close();
    const c = new Client({ connectionString: db.url });
    await c.connect();
    const { rows } = await c.query(`SELECT active_key_digest FROM dbcrypt_keys`);
    await c.end();
    expect(rows).toEqual([{ active_key_digest: keyDigest(a) }]);

    await expect(boot([randomBytes(32)])).rejects.toThrow(keyDigest(a));
    const again = await boot([randomBytes(32), a]);
    await again.close();
  });
});
