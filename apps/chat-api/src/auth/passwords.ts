// Password hashing with scrypt (memory-hard; 32 MiB per hash at N=2^15). The stored form
// names its parameters so they can be raised later without breaking old hashes.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, ScryptOptions } from 'node:crypto';

const N = 1 << 15;
const R = 8;
const P = 1;
const KEYLEN = 32;
const MAXMEM = 64 * 1024 * 1024;

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<Buffer> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, { N, r: R, p: P, maxmem: MAXMEM });
  return Buffer.from(`$scrypt$n=${N},r=${R},p=${P}$${salt.toString('base64')}$${key.toString('base64')}`);
}

const STORED_RE = /^\$scrypt\$n=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

export async function verifyPassword(password: string, stored: Buffer | null | undefined): Promise<boolean> {
  const m = stored ? STORED_RE.exec(stored.toString()) : null;
  if (!m) {
    // Spend the same time as a real check so a missing user or password is not observable.
    await scrypt(password, DUMMY_SALT, KEYLEN, { N, r: R, p: P, maxmem: MAXMEM });
    return false;
  }
  const n = Number(m[1]);
  const r = Number(m[2]);
  const p = Number(m[3]);
  // Parameters come from the database: refuse ones this process could not compute (a hash
  // written with a higher cost than MAXMEM allows) instead of failing the request.
  if (128 * n * r > MAXMEM || p > 16) return false;
  const expected = Buffer.from(m[5], 'base64');
  const key = await scrypt(password, Buffer.from(m[4], 'base64'), expected.length, {
    N: n,
    r,
    p,
    maxmem: MAXMEM,
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

const DUMMY_SALT = randomBytes(16);
