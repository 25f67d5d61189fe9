// The shape of the registry of encrypted columns. Each entry names a text column holding a
// secret and its `*_key_id` partner (an FK to dbcrypt_keys.active_key_digest; NULL means the
// value is plaintext). The registry itself belongs to the entities lib; rotation takes it as
// an argument.

export interface EncryptedColumn {
  readonly table: string;
  readonly column: string;
  readonly keyIdColumn: string;
  /** The table's primary key column, used to update rewritten rows one by one. */
  readonly idColumn: string;
}

const PLAIN_IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/**
 * Quotes an identifier for SQL. Registry entries are code, not input, but rotation splices
 * them into statements, so anything beyond a plain lower-case name is refused outright.
 */
export function quoteIdent(name: string): string {
  if (!PLAIN_IDENTIFIER.test(name)) throw new Error(`not a plain SQL identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}
