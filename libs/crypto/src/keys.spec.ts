import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { encryptionKey, KeyConfigError, keyDigest, parseKeys } from './keys';

const b64 = (buf: Buffer) => buf.toString('base64');

describe('key ids', () => {
  it('are the first 7 hex chars of sha256("aes256gcm" || key), checked against sha256sum', () => {
    // Vectors computed outside Node: printf 'aes256gcm' followed by the key bytes | sha256sum.
    expect(keyDigest(Buffer.alloc(32))).toBe('fdd7705');
    expect(keyDigest(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe('6d28cf8');
  });

  it('are 7 lower-case hex characters and stable for the same key', () => {
    const material = randomBytes(32);
    const id = encryptionKey(material).digest;
    expect(id).toMatch(/^[0-9a-f]{7}$/);
    expect(encryptionKey(Buffer.from(material)).digest).toBe(id);
    expect(parseKeys(b64(material))[0].digest).toBe(id);
  });

  it('a key object never shows its material when printed or serialised', () => {
    const material = randomBytes(32);
    const key = encryptionKey(material);
    for (const text of [inspect(key, { depth: 10, showHidden: true }), JSON.stringify(key), String(key)]) {
      expect(text).not.toContain(b64(material));
      expect(text).not.toContain(material.toString('hex'));
    }
  });
});

describe('parseKeys (AGENTMESH_ENCRYPTION_KEYS)', () => {
  it('unset or blank means no keys', () => {
    expect(parseKeys(undefined)).toEqual([]);
    expect(parseKeys('')).toEqual([]);
    expect(parseKeys('  ')).toEqual([]);
  });

  it('keeps the configured order: primary first, spaces around commas ignored', () => {
    const [a, b] = [randomBytes(32), randomBytes(32)];
    const keys = parseKeys(` ${b64(b)} , ${b64(a)}`);
    expect(keys.map((k) => k.digest)).toEqual([keyDigest(b), keyDigest(a)]);
  });

  const valid = b64(randomBytes(32));
  const cases: [string, string, number, string][] = [
    [
      'a 16-byte key',
      `${valid},${b64(Buffer.from('sixteen byte key'))}`,
      2,
      'must be the base64 encoding of exactly 32 bytes',
    ],
    [
      'url-safe base64',
      `${valid},${b64(Buffer.alloc(32, 0xfb)).replace(/\+/g, '-').replace(/\//g, '_')}`,
      2,
      'must be the base64',
    ],
    ['base64 without padding', b64(Buffer.alloc(32, 7)).replace(/=+$/, ''), 1, 'must be the base64'],
    ['not base64 at all', 'correct horse battery staple, really!!', 1, 'must be the base64'],
    ['an empty entry', `${valid},,${b64(randomBytes(32))}`, 2, 'is empty'],
    ['the same key twice', `${valid},${b64(randomBytes(32))},${valid}`, 3, 'has the same key id as key #1'],
  ];
  it.each(cases)('rejects %s, naming the position and never the key', (_name, raw, position, detail) => {
    let error: unknown;
    try {
      parseKeys(raw);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KeyConfigError);
    const { message } = error as KeyConfigError;
    expect((error as KeyConfigError).position).toBe(position);
    expect(message).toContain(`key #${position}`);
    expect(message).toContain(detail);
    for (const part of raw.split(',').filter((p) => p.trim().length >= 4)) {
      expect(message).not.toContain(part.trim().slice(0, 8));
    }
  });
});
