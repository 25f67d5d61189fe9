import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Ciphers, DecryptError, NONCE_BYTES, TAG_BYTES } from './cipher';
import { encryptionKey, parseKeys } from './keys';

const material = (n: number) => Buffer.alloc(32, n);
const keyA = encryptionKey(material(0xa));
const keyB = encryptionKey(material(0xb));

function decryptError(fn: () => unknown): DecryptError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DecryptError) return e;
    throw e;
  }
  throw new Error('expected a DecryptError');
}

describe('Ciphers with keys', () => {
  const ciphers = new Ciphers([keyB, keyA]);

  it('round-trips text (unicode and empty strings included) under the primary key id', () => {
    for (const text of ['sk-live-123', '', 'пароль 🔑 ключ', 'x'.repeat(10_000)]) {
      const enc = ciphers.encrypt(text);
      expect(enc.keyId).toBe(keyB.digest);
      expect(ciphers.decrypt(enc.value, enc.keyId)).toBe(text);
    }
  });

  it('stores base64(nonce[12] || ciphertext || tag[16]), decryptable with plain node crypto', () => {
    const enc = ciphers.encrypt('hello');
    const raw = Buffer.from(enc.value, 'base64');
    expect(raw.length).toBe(NONCE_BYTES + 5 + TAG_BYTES);
    const d = createDecipheriv('aes-256-gcm', material(0xb), raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(raw.length - 16));
    expect(Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString()).toBe('hello');
  });

  it('reads a value built independently with the documented layout', () => {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', material(0xa), nonce);
    const body = Buffer.concat([c.update('from elsewhere'), c.final()]);
    const value = Buffer.concat([nonce, body, c.getAuthTag()]).toString('base64');
    expect(ciphers.decrypt(value, keyA.digest)).toBe('from elsewhere');
  });

  it('uses a fresh nonce per value, so equal plaintexts never produce equal values', () => {
    expect(ciphers.encrypt('same').value).not.toBe(ciphers.encrypt('same').value);
  });

  it('decrypts values written under an older (secondary) key by key id', () => {
    const old = new Ciphers([keyA]).encrypt('older secret');
    expect(old.keyId).toBe(keyA.digest);
    expect(ciphers.decrypt(old.value, old.keyId)).toBe('older secret');
  });

  it('passes a NULL key id through: the row is plaintext not yet encrypted', () => {
    expect(ciphers.decrypt('legacy plaintext', null)).toBe('legacy plaintext');
  });

  it('rejects a key id that is not configured with code unknown_key', () => {
    const foreign = new Ciphers(parseKeys(randomBytes(32).toString('base64'))).encrypt('x');
    const e = decryptError(() => ciphers.decrypt(foreign.value, foreign.keyId));
    expect(e.code).toBe('unknown_key');
    expect(e.keyId).toBe(foreign.keyId);
  });

  it('detects tampering anywhere in the value with code corrupt', () => {
    const raw = Buffer.from(ciphers.encrypt('do not touch').value, 'base64');
    const positions = { nonce: 0, ciphertext: NONCE_BYTES + 2, tag: raw.length - 1 };
    for (const at of Object.values(positions)) {
      const bad = Buffer.from(raw);
      bad[at] ^= 0x01;
      expect(decryptError(() => ciphers.decrypt(bad.toString('base64'), keyB.digest)).code).toBe('corrupt');
    }
    expect(
      decryptError(() => ciphers.decrypt(raw.subarray(0, 20).toString('base64'), keyB.digest)).code,
    ).toBe('corrupt');
  });

  it('reports a value sealed with a different key under this key id as corrupt', () => {
    const other = new Ciphers([keyA]).encrypt('x');
    expect(decryptError(() => ciphers.decrypt(other.value, keyB.digest)).code).toBe('corrupt');
  });

  it('never warns about plaintext while keys are configured', () => {
    const warn = jest.fn();
    const c = new Ciphers([keyA], { warnOnce: warn });
    c.decrypt(c.encrypt('x').value, keyA.digest);
    c.decrypt('legacy', null);
    expect(warn).not.toHaveBeenCalled();
  });
});

describe('Ciphers without keys', () => {
  it('stores plaintext with a NULL key id and reads it back unchanged', () => {
    const ciphers = new Ciphers([]);
    expect(ciphers.primaryKeyId).toBeNull();
    expect(ciphers.encrypt('visible')).toEqual({ value: 'visible', keyId: null });
    expect(ciphers.decrypt('visible', null)).toBe('visible');
  });

  it('warns exactly once per Ciphers, however many values pass through', () => {
    const warn = jest.fn();
    const ciphers = new Ciphers([], { warnOnce: warn });
    ciphers.encrypt('a');
    ciphers.decrypt('a', null);
    ciphers.encrypt('b');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/plaintext/);
  });

  it('cannot read a value that names a key id', () => {
    const enc = new Ciphers([keyA]).encrypt('x');
    expect(decryptError(() => new Ciphers([]).decrypt(enc.value, enc.keyId)).code).toBe('unknown_key');
  });
});
