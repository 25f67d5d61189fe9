// Public API of @agentmesh/crypto: encryption of secret columns at rest (AES-256-GCM with key
// ids), key registration at boot, and rotation. The CLI (cli.ts) is an entry point, not API.
export { KEY_BYTES, KEY_ID_LENGTH, KeyConfigError, encryptionKey, keyDigest, parseKeys } from './keys';
export type { EncryptionKey } from './keys';
export { Ciphers, DecryptError, NONCE_BYTES, TAG_BYTES, decryptWithKey, encryptWithKey } from './cipher';
export type { CiphersOptions, DecryptErrorCode, Encrypted } from './cipher';
export { pgQueryable } from './queryable';
export type { Queryable, Session } from './queryable';
export { KEY_TEST_PLAINTEXT, KeyStoreError, syncKeys } from './key-store';
export type { KeyStoreErrorCode, KeySyncResult } from './key-store';
export type { EncryptedColumn } from './encrypted-columns';
export { decryptAll, rotate } from './rotate';
export type { ColumnCount, RewriteOptions, RewriteReport } from './rotate';
export { loadCiphers } from './load-ciphers';
