// Encryption keys: parsing AGENTMESH_ENCRYPTION_KEYS and naming each key by its digest.
// Key material is held in a node KeyObject, which prints and serialises as an opaque object,
// so a key that reaches a log line or an error by accident still does not leak.
import { createHash, createSecretKey, KeyObject } from 'node:crypto';

export const KEY_BYTES = 32;
/** Hex characters of the digest used as key id (in `*_key_id` columns and `dbcrypt_keys`). */
export const KEY_ID_LENGTH = 7;
/** Mixed into the digest so the id also names the algorithm the key is used with. */
const DIGEST_PREFIX = 'aes256gcm';

export interface EncryptionKey {
  /** The key id: first 7 hex characters of sha256("aes256gcm" || key). */
  readonly digest: string;
  readonly secret: KeyObject;
}

/** Raised for a malformed key list; the message names the key's position, never its value. */
export class KeyConfigError extends Error {
  constructor(
    readonly position: number,
    detail: string,
  ) {
    super(`AGENTMESH_ENCRYPTION_KEYS: key #${position} ${detail}`);
    this.name = 'KeyConfigError';
  }
}

export function keyDigest(material: Buffer): string {
  return createHash('sha256').update(DIGEST_PREFIX).update(material).digest('hex').slice(0, KEY_ID_LENGTH);
}

export function encryptionKey(material: Buffer): EncryptionKey {
  if (material.length !== KEY_BYTES)
    throw new RangeError(`an encryption key must be ${KEY_BYTES} bytes, got ${material.length}`);
  return { digest: keyDigest(material), secret: createSecretKey(material) };
}

/**
 * Parses a comma-separated list of base64 32-byte keys, primary first. Unset or blank means
 * no keys (secrets stay plaintext). Strict base64 only, so a truncated or url-safe paste is
 * caught here rather than becoming a different key.
 */
export function parseKeys(raw: string | undefined): EncryptionKey[] {
  if (raw == null || raw.trim() === '') return [];
  const keys: EncryptionKey[] = [];
  raw.split(',').forEach((part, i) => {
    const position = i + 1;
    const text = part.trim();
    if (text === '') throw new KeyConfigError(position, 'is empty');
    const material = Buffer.from(text, 'base64');
    if (material.length !== KEY_BYTES || material.toString('base64') !== text) {
      throw new KeyConfigError(position, `must be the base64 encoding of exactly ${KEY_BYTES} bytes`);
    }
    const key = encryptionKey(material);
    const twin = keys.findIndex((k) => k.digest === key.digest);
    // Equal digests mean the same key twice (or a 28-bit collision): either way the key id
    // would no longer name one key.
    if (twin >= 0) throw new KeyConfigError(position, `has the same key id as key #${twin + 1}`);
    keys.push(key);
  });
  return keys;
}
