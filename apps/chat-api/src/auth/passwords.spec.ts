import { hashPassword, verifyPassword } from './passwords';

describe('passwords', () => {
  it('verifies the right password and rejects a wrong one', async () => {
    const stored = await hashPassword('correct horse');
    expect(stored.toString()).toMatch(/^\$scrypt\$n=32768,r=8,p=1\$/);
    await expect(verifyPassword('correct horse', stored)).resolves.toBe(true);
    await expect(verifyPassword('correct horsf', stored)).resolves.toBe(false);
  });

  it('salts every hash', async () => {
    expect((await hashPassword('same')).equals(await hashPassword('same'))).toBe(false);
  });

  it('treats missing, malformed or uncomputable stored hashes as a mismatch, never an error', async () => {
    await expect(verifyPassword('x', undefined)).resolves.toBe(false);
    await expect(verifyPassword('x', Buffer.from('plaintext'))).resolves.toBe(false);
    const tooCostly = (await hashPassword('x')).toString().replace('n=32768', 'n=1048576');
    await expect(verifyPassword('x', Buffer.from(tooCostly))).resolves.toBe(false);
  });
});
