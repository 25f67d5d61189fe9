// AES-256-GCM for secret columns, and `Ciphers`, the set of configured keys the app encrypts
// with (the primary) and decrypts with (any configured key, chosen by the row's key id).
//
// Stored value layout: base64( nonce[12] || ciphertext[n] || tag[16] ), standard alphabet with
// padding. The random 96-bit nonce is GCM's recommended size; the tag authenticates nonce and
// ciphertext, so any change to the stored value fails to decrypt rather than yielding garbage.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { EncryptionKey } from './keys';

const ALGORITHM = 'aes-256-gcm';
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

/** A value ready to store: `keyId` goes into the column's `*_key_id` partner (NULL = plaintext). */
export interface Encrypted {
  readonly value: string;
  readonly keyId: string | null;
}

export type DecryptErrorCode = 'unknown_key' | 'corrupt';

export class DecryptError extends Error {
  constructor(
    readonly code: DecryptErrorCode,
    readonly keyId: string | null,
    message: string,
  ) {
    super(message);
    this.name = 'DecryptError';
  }
}

export function encryptWithKey(key: EncryptionKey, plaintext: string): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv(ALGORITHM, key.secret, nonce, { authTagLength: TAG_BYTES });
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64');
}

/** Throws `DecryptError('corrupt')` when the value was altered, truncated or sealed with another key. */
export function decryptWithKey(key: EncryptionKey, value: string): string {
  const raw = Buffer.from(value, 'base64');
  if (raw.length < NONCE_BYTES + TAG_BYTES) {
    throw new DecryptError(
      'corrupt',
      key.digest,
      `value encrypted with key ${key.digest} is too short to be a ciphertext`,
    );
  }
  const decipher = createDecipheriv(ALGORITHM, key.secret, raw.subarray(0, NONCE_BYTES), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    throw new DecryptError(
      'corrupt',
      key.digest,
      `value encrypted with key ${key.digest} failed authentication`,
    );
  }
}

export interface CiphersOptions {
  /** Receives the warning that secrets are stored in plaintext; called at most once. */
  warnOnce?: (message: string) => void;
}

export class Ciphers {
  private readonly byDigest: ReadonlyMap<string, EncryptionKey>;
  private warned = false;

  /** `keys` in priority order: the first is the primary, used for every write. */
  constructor(
    readonly keys: readonly EncryptionKey[],
    private readonly options: CiphersOptions = {},
  ) {
    this.byDigest = new Map(keys.map((k) => [k.digest, k]));
    if (this.byDigest.size !== keys.length) throw new Error('encryption keys must have distinct key ids');
  }

  get primaryKeyId(): string | null {
    return this.keys[0]?.digest ?? null;
  }

  encrypt(plaintext: string): Encrypted {
    const primary = this.keys[0];
    if (!primary) {
      this.warnPlaintext();
      return { value: plaintext, keyId: null };
    }
    return { value: encryptWithKey(primary, plaintext), keyId: primary.digest };
  }

  /** A NULL key id means the row was written in plaintext (no keys then, or not rotated yet). */
  decrypt(value: string, keyId: string | null): string {
    if (keyId == null) {
      if (this.keys.length === 0) this.warnPlaintext();
      return value;
    }
    const key = this.byDigest.get(keyId);
    if (!key)
      throw new DecryptError(
        'unknown_key',
        keyId,
        `value is encrypted with key ${keyId}, which is not configured`,
      );
    return decryptWithKey(key, value);
  }

  private warnPlaintext(): void {
    if (this.warned) return;
    this.warned = true;
    this.options.warnOnce?.(
      'no encryption keys configured (AGENTMESH_ENCRYPTION_KEYS): secrets are stored in plaintext',
    );
  }
}
