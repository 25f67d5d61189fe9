// API keys and session tokens share one format: `<id>-<secret>`, a 10-character id (the
// primary key, safe to log) and a 22-character secret stored only as its SHA-256.
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import type { AllowListEntry } from '@agentmesh/rbac';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
export const KEY_ID_LENGTH = 10;
export const KEY_SECRET_LENGTH = 22;
const TOKEN_RE = new RegExp(`^([A-Za-z0-9]{${KEY_ID_LENGTH}})-([A-Za-z0-9]{${KEY_SECRET_LENGTH}})$`);

function randomString(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

export interface GeneratedKey {
  id: string;
  secret: string;
  hashedSecret: Buffer;
  token: string;
}

export function generateApiKey(): GeneratedKey {
  const id = randomString(KEY_ID_LENGTH);
  const secret = randomString(KEY_SECRET_LENGTH);
  return { id, secret, hashedSecret: hashSecret(secret), token: `${id}-${secret}` };
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

export function parseApiKey(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN_RE.exec(token);
  return m ? { id: m[1], secret: m[2] } : undefined;
}

export function secretMatches(secret: string, hashed: Buffer): boolean {
  const h = hashSecret(secret);
  return h.length === hashed.length && timingSafeEqual(h, hashed);
}

/** Stored allow-list entries (`type:id`) as objects. */
export function parseAllowList(entries: readonly string[]): AllowListEntry[] {
  return entries.map((e) => {
    const i = e.indexOf(':');
    return { type: e.slice(0, i) as AllowListEntry['type'], id: e.slice(i + 1) };
  });
}
