// Login is rate limited per account and per client IP: the request over the limit gets 429
// with Retry-After, whatever the password.
import { OWNER, setupOwner, useChatApi } from './harness';

describe('login rate limits', () => {
  const h = useChatApi({ LOGIN_RATE_LIMIT_ACCOUNT: '3', LOGIN_RATE_LIMIT_IP: '6' });
  beforeAll(() => setupOwner(h));

  it('answers the 4th attempt for one account within a minute with 429 and Retry-After, even with the right password', async () => {
    const c = h.client();
    for (let i = 0; i < 2; i++)
      expect(
        (
          await c.raw('POST', '/api/v2/users/login', {
            body: { email: OWNER.email, password: 'wrong password' },
          })
        ).status,
      ).toBe(401);
    const res = await c.raw('POST', '/api/v2/users/login', {
      body: { email: OWNER.email, password: OWNER.password },
    });
    expect(res.status).toBe(429);
    expect(res.body).toEqual({ message: 'Too many login attempts. Try again later.' });
    const retry = Number(res.headers.get('retry-after'));
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(60);
  });

  it('limits one client IP across accounts', async () => {
    const c = h.client();
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      statuses.push(
        (
          await c.raw('POST', '/api/v2/users/login', {
            body: { email: `nobody${i}@example.com`, password: 'whatever123' },
          })
        ).status,
      );
    }
    // setupOwner's login and the three attempts above already used this IP's budget of 6.
    expect(statuses).toEqual([401, 401, 429]);
  });
});
