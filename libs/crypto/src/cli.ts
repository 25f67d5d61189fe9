// Operator CLI for secret columns: `rotate` re-encrypts everything with the primary key and
// revokes unused keys; `decrypt` rewrites everything as plaintext and revokes all keys.
// Reads DATABASE_URL and AGENTMESH_ENCRYPTION_KEYS; prints counts, never secrets or the URL.
import { Client } from 'pg';
import { Ciphers } from './cipher';
import { EncryptedColumn } from './encrypted-columns';
import { parseKeys } from './keys';
import { pgQueryable } from './queryable';
import { decryptAll, RewriteReport, rotate } from './rotate';

/** Mirrors LockIds.dbcryptRotate of the db lib's registry ("agmh" << 32 | 4); crypto may not import it. */
export const DBCRYPT_ROTATE_LOCK_ID = ((0x61676d68n << 32n) | 4n).toString();

const USAGE = 'usage: cli.js rotate|decrypt   (reads DATABASE_URL and AGENTMESH_ENCRYPTION_KEYS)';

/** Exit codes: 0 done, 1 error, 2 usage, 3 finished but old keys are still in use (run again). */
export async function runCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  columns: readonly EncryptedColumn[],
): Promise<number> {
  const [command, ...extra] = argv;
  if ((command !== 'rotate' && command !== 'decrypt') || extra.length > 0) {
    console.error(USAGE);
    return 2;
  }
  const url = env.DATABASE_URL;
  if (!url) {
    console.error('DATABASE_URL is not set');
    return 1;
  }
  const client = new Client({ connectionString: url, application_name: `agentmesh-dbcrypt-${command}` });
  try {
    const ciphers = new Ciphers(parseKeys(env.AGENTMESH_ENCRYPTION_KEYS), {
      warnOnce: (m) => console.warn(m),
    });
    await client.connect();
    const run = command === 'rotate' ? rotate : decryptAll;
    const report = await run(pgQueryable(client), ciphers, columns, { lockId: DBCRYPT_ROTATE_LOCK_ID });
    printReport(command, report);
    return report.keysInUse.length > 0 ? 3 : 0;
  } catch (e) {
    console.error(`dbcrypt ${command} failed: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function printReport(command: string, report: RewriteReport): void {
  const verb = command === 'rotate' ? 're-encrypted' : 'decrypted';
  for (const c of report.columns) console.log(`${c.table}.${c.column}: ${c.rewritten} row(s) ${verb}`);
  console.log(`revoked keys: ${report.revokedKeys.join(', ') || 'none'}`);
  if (report.keysInUse.length > 0) {
    console.log(
      `old keys still in use (rows were busy or written meanwhile; run again): ${report.keysInUse.join(', ')}`,
    );
  }
}

if (require.main === module) {
  // No column is encrypted yet; the run still registers keys and revokes unused ones.
  void runCli(process.argv.slice(2), process.env, []).then((code) => {
    process.exitCode = code;
  });
}
