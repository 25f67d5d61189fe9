// The identity API against a real chat-api, Postgres and NATS: first user, login/logout,
// tokens, users, roles, organizations, and bad input on every endpoint.
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { ApiClientError, FirstUserTelemetryEvent } from '@agentmesh/contracts';
import { SubjectCatalog } from '@agentmesh/bus';
import { safeUrl } from '@agentmesh/observability';
import { TEST_NATS_URL } from '@agentmesh/testing';
import { OWNER, setupOwner, useChatApi } from './harness';

const h = useChatApi({ LOGIN_RATE_LIMIT_ACCOUNT: '1000', LOGIN_RATE_LIMIT_IP: '1000' });

async function expectError(
  p: Promise<unknown>,
  status: number,
  message?: string | RegExp,
): Promise<ApiClientError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ApiClientError);
    const err = e as ApiClientError;
    expect(err.status).toBe(status);
    if (message) expect(err.body.message).toMatch(message);
    return err;
  }
  throw new Error(`expected HTTP ${status}, got success`);
}

describe('first user', () => {
  it('GET /users/first is 404 before and 200 after the first user exists', async () => {
    const anon = h.client();
    const before = await anon.raw('GET', '/api/v2/users/first');
    expect(before.status).toBe(404);
    expect(before.headers.get('x-request-id')).toBeTruthy();

    const created = await anon.createFirstUser({
      ...OWNER,
      onboarding_info: { newsletter_marketing: true, newsletter_releases: false },
    });
    expect(created.user_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.organization_id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await anon.raw('GET', '/api/v2/users/first')).status).toBe(200);
  });

  it('refuses a second first user with 409', async () => {
    await expectError(
      h.client().createFirstUser({ ...OWNER, email: 'other@example.com', username: 'other' }),
      409,
    );
  });

  it('publishes one first_user telemetry event to JetStream with onboarding flags', async () => {
    const nc = await connect({ servers: TEST_NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      const cat = new SubjectCatalog(h.prefix);
      const stream = cat.streamName('TELEMETRY');
      let msg;
      for (let i = 0; i < 50 && !msg; i++) {
        msg = await jsm.streams
          .getMessage(stream, { last_by_subj: `${h.prefix}.telemetry.first_user` })
          .catch(() => undefined);
        if (!msg) await new Promise((r) => setTimeout(r, 100));
      }
      expect(msg).toBeDefined();
      const event = msg!.json<FirstUserTelemetryEvent>();
      expect(event).toMatchObject({
        v: 1,
        username: OWNER.username,
        email: OWNER.email,
        onboarding: { newsletter_marketing: true, newsletter_releases: false },
      });
      expect(msg!.header.get('Nats-Msg-Id')).toBe(`first_user:${event.user_id}`);
      const info = await jsm.streams.info(stream);
      expect(info.state.messages).toBe(1);
    } finally {
      await nc.close();
    }
  });
});

describe('login, session and logout', () => {
  it('logs in with 201, sets the session cookie, and the token works in every accepted place', async () => {
    const anon = h.client();
    const res = await anon.raw('POST', '/api/v2/users/login', {
      body: { email: OWNER.email, password: OWNER.password },
    });
    expect(res.status).toBe(201);
    const token = (res.body as { session_token: string }).session_token;
    expect(token).toMatch(/^[A-Za-z0-9]{10}-[A-Za-z0-9]{22}$/);
    expect(res.headers.get('set-cookie')).toMatch(
      /^coder_session_token=.+; Path=\/; Expires=.+; HttpOnly; SameSite=Lax/,
    );

    const c = h.client();
    const placements: Record<string, string>[] = [
      { 'Coder-Session-Token': token },
      { Cookie: `coder_session_token=${token}` },
      { Authorization: `Bearer ${token}` },
    ];
    for (const headers of placements) {
      const me = await c.raw('GET', '/api/v2/users/me', { headers });
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({
        username: OWNER.username,
        email: OWNER.email,
        status: 'active',
        login_type: 'password',
      });
    }
    const viaQuery = await c.raw('GET', `/api/v2/users/me?coder_session_token=${token}`);
    expect(viaQuery.status).toBe(200);
  });

  it('GET /users/me returns the full codersdk User shape', async () => {
    const { client } = await login();
    const me = await client.user('me');
    expect(me).toEqual({
      id: expect.any(String),
      username: OWNER.username,
      name: OWNER.name,
      email: OWNER.email,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      updated_at: expect.any(String),
      last_seen_at: expect.any(String),
      status: 'active',
      login_type: 'password',
      organization_ids: [expect.any(String)],
      roles: [{ name: 'owner', display_name: 'Owner' }],
      has_ai_seat: false,
    });
  });

  it('rejects wrong passwords and unknown accounts alike with 401', async () => {
    const anon = h.client();
    await expectError(
      anon.login({ email: OWNER.email, password: 'wrong password!' }),
      401,
      'Incorrect email or password.',
    );
    await expectError(
      anon.login({ email: 'nobody@example.com', password: 'whatever123' }),
      401,
      'Incorrect email or password.',
    );
  });

  it('logout deletes the session: the token stops working', async () => {
    const { client } = await login();
    expect((await client.logout()).message).toBe('Logged out!');
    await expectError(client.user('me'), 401);
  });

  it('rejects missing, malformed and unknown tokens with 401', async () => {
    await expectError(h.client().user('me'), 401, 'You must be logged in to access this resource.');
    await expectError(h.client('garbage').user('me'), 401, 'Invalid session token.');
    await expectError(
      h.client('abcdefghij-abcdefghijklmnopqrstuv').user('me'),
      401,
      'Invalid session token.',
    );
  });
});

describe('API tokens', () => {
  it('creates a token (returned once), lists it without the secret, and authenticates with it', async () => {
    const { client } = await login();
    const { key } = await client.createToken('me', { token_name: 'ci', lifetime: 3600 * 1e9 });
    expect(key).toMatch(/^[A-Za-z0-9]{10}-[A-Za-z0-9]{22}$/);
    const list = await client.tokens('me');
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      token_name: 'ci',
      login_type: 'token',
      lifetime_seconds: 3600,
      scopes: ['coder:all'],
    });
    expect(JSON.stringify(list)).not.toContain(key.split('-')[1]);
    expect((await h.client(key).user('me')).username).toBe(OWNER.username);
    await expectError(client.createToken('me', { token_name: 'ci' }), 409);
  });

  it('rejects bad token requests with 400 naming the field', async () => {
    const { client } = await login();
    const e1 = await expectError(client.createToken('me', { token_name: 'bad name!' }), 400);
    expect(e1.body.validations?.[0].field).toBe('token_name');
    const e2 = await expectError(client.createToken('me', { lifetime: -5 }), 400);
    expect(e2.body.validations?.[0].field).toBe('lifetime');
    const e3 = await expectError(client.createToken('me', { scopes: ['root:everything'] }), 400);
    expect(e3.body.validations?.[0].field).toBe('scopes');
    const e4 = await expectError(client.createToken('me', { lifetime: 1e9 * 3600 * 24 * 366 * 2 }), 400);
    expect(e4.body.validations?.[0].field).toBe('lifetime');
  });

  it('a token scoped to application_connect cannot read users', async () => {
    const { client } = await login();
    const { key } = await client.createToken('me', {
      token_name: 'apps-only',
      scopes: ['coder:application_connect'],
    });
    await expectError(h.client(key).user('me'), 404);
  });
});

describe('users and roles', () => {
  it('an owner creates a member; the member sees only itself and cannot create users (403)', async () => {
    const { client, orgId } = await login();
    const member = await client.createUser({
      email: 'mia@example.com',
      username: 'mia',
      password: 'member password 1',
      user_status: 'active',
    });
    expect(member).toMatchObject({ username: 'mia', status: 'active', organization_ids: [orgId], roles: [] });

    const m = h.client();
    await m.login({ email: 'mia@example.com', password: 'member password 1' });
    expect((await m.user('me')).username).toBe('mia');
    await expectError(
      m.user(OWNER.username),
      404,
      'Resource not found or you do not have access to this resource',
    );
    const visible = await m.users();
    expect(visible.users.map((u) => u.username)).toEqual(['mia']);
    expect(visible.count).toBe(1);
    await expectError(m.createUser({ email: 'x@example.com', username: 'x', password: 'xxxxxxxxxx' }), 403);
    await expectError(m.updateUserRoles(OWNER.username, []), 404);
  });

  it('new users default to dormant and become active at first login', async () => {
    const { client } = await login();
    const u = await client.createUser({
      email: 'dora@example.com',
      username: 'dora',
      password: 'dormant password',
    });
    expect(u.status).toBe('dormant');
    const d = h.client();
    await d.login({ email: 'dora@example.com', password: 'dormant password' });
    expect((await d.user('me')).status).toBe('active');
  });

  it('lists users with search, pagination and count', async () => {
    const { client } = await login();
    const all = await client.users();
    expect(all.count).toBeGreaterThanOrEqual(3);
    const page1 = await client.users({ limit: 1 });
    expect(page1.users).toHaveLength(1);
    expect(page1.count).toBe(all.count);
    const page2 = await client.users({ limit: 1, after_id: page1.users[0].id });
    expect(page2.users[0].username > page1.users[0].username).toBe(true);
    expect((await client.users({ q: 'mia' })).users.map((u) => u.username)).toEqual(['mia']);
    expect((await client.users({ q: 'status:dormant' })).users.every((u) => u.status === 'dormant')).toBe(
      true,
    );
    expect((await client.users({ q: 'role:owner' })).users.map((u) => u.username)).toEqual([OWNER.username]);
  });

  it('rejects bad list queries with 400 naming each parameter', async () => {
    const { client } = await login();
    for (const [query, field] of [
      ['limit=-1', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=5000', 'limit'],
      ['offset=1.5', 'offset'],
      ['after_id=nope', 'after_id'],
      ['q=colour:blue', 'colour'],
      ['q=status:sleepy', 'status'],
    ]) {
      const res = await client.raw('GET', `/api/v2/users?${query}`);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        message: 'Query parameters have invalid values.',
        validations: [expect.objectContaining({ field })],
      });
    }
  });

  it('updates site roles, rejecting unknown roles and self-changes', async () => {
    const { client } = await login();
    const updated = await client.updateUserRoles('mia', ['auditor']);
    expect(updated.roles).toEqual([{ name: 'auditor', display_name: 'Auditor' }]);
    expect((await client.userRoles('mia')).roles).toEqual(['auditor']);
    const bad = await expectError(client.updateUserRoles('mia', ['wizard']), 400);
    expect(bad.body.validations?.[0]).toEqual({ field: 'roles', detail: 'unknown site role(s): wizard' });
    await expectError(client.updateUserRoles('me', []), 400, 'You cannot change your own roles.');
    await expectError(client.updateUserRoles('no-such-user', []), 404);
  });

  it('a user-admin may assign member-level roles but not owner', async () => {
    const { client } = await login();
    await client.createUser({
      email: 'ua@example.com',
      username: 'ua',
      password: 'user admin pass',
      user_status: 'active',
      roles: ['user-admin'],
    });
    const ua = h.client();
    await ua.login({ email: 'ua@example.com', password: 'user admin pass' });
    await expectError(ua.updateUserRoles('mia', ['owner']), 403);
    await expectError(
      ua.createUser({ email: 'o2@example.com', username: 'o2', password: 'xxxxxxxxxx', roles: ['owner'] }),
      403,
    );
    const created = await ua.createUser({
      email: 'plain@example.com',
      username: 'plain',
      password: 'xxxxxxxxxx',
    });
    expect(created.roles).toEqual([]);
  });

  it('rejects duplicate users with 409 naming the field', async () => {
    const { client } = await login();
    const e = await expectError(
      client.createUser({ email: 'MIA@example.com', username: 'mia2', password: 'xxxxxxxxxx' }),
      409,
      'User already exists.',
    );
    expect(e.body.validations?.[0].field).toBe('email');
    const e2 = await expectError(
      client.createUser({ email: 'mia2@example.com', username: 'MIA', password: 'xxxxxxxxxx' }),
      409,
    );
    expect(e2.body.validations?.[0].field).toBe('username');
  });
});

describe('organizations and members', () => {
  it('lists the default organization, resolvable by id, name and "default"', async () => {
    const { client, orgId } = await login();
    const orgs = await client.organizations();
    expect(orgs).toEqual([
      expect.objectContaining({
        id: orgId,
        name: 'coder',
        display_name: 'Coder',
        is_default: true,
        icon: '',
        description: expect.any(String),
      }),
    ]);
    for (const ref of [orgId, 'coder', 'default']) expect((await client.organization(ref)).id).toBe(orgId);
    await expectError(client.organization('nope'), 404);
  });

  it('lists members with user data and updates org roles', async () => {
    const { client, orgId } = await login();
    const members = await client.members(orgId);
    expect(members.map((m) => m.username)).toContain('mia');
    const mia = members.find((m) => m.username === 'mia')!;
    expect(mia).toMatchObject({
      organization_id: orgId,
      email: 'mia@example.com',
      roles: [],
      has_ai_seat: false,
      global_roles: expect.any(Array),
    });
    const updated = await client.updateMemberRoles(orgId, 'mia', ['organization-admin', 'agents-access']);
    expect(updated.roles.map((r) => r.name).sort()).toEqual(['agents-access', 'organization-admin']);
    const bad = await expectError(client.updateMemberRoles(orgId, 'mia', ['owner']), 400);
    expect(bad.body.validations?.[0].field).toBe('roles');
    const page = await client.paginatedMembers(orgId, 1, 0);
    expect(page.members).toHaveLength(1);
    expect(page.count).toBe(members.length);
  });
});

describe('review regressions', () => {
  it('a member reads a fellow member it sees in the list, though it cannot read that user', async () => {
    const m = h.client();
    await m.login({ email: 'dora@example.com', password: 'dormant password' });
    const list = await m.members('default');
    expect(list.map((x) => x.username)).toContain(OWNER.username);
    await expectError(m.user(OWNER.username), 404);
    const one = await m.raw('GET', `/api/v2/organizations/default/members/${OWNER.username}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ username: OWNER.username });
  });

  it('a scoped token cannot mint other keys', async () => {
    const { client } = await login();
    const { key } = await client.createToken('me', { token_name: 'read-only', scopes: ['chat:read'] });
    const res = await h
      .client(key)
      .raw('POST', '/api/v2/users/me/keys/tokens', { body: { token_name: 'escalate' } });
    expect([403, 404]).toContain(res.status);
    const session = await h.client(key).raw('POST', '/api/v2/users/me/keys');
    expect([403, 404]).toContain(session.status);
  });

  it('filters paginated members with q and rejects a repeated q', async () => {
    const { client } = await login();
    const page = await client.raw('GET', '/api/v2/organizations/default/paginated-members?q=mia');
    expect(page.body).toMatchObject({ count: 1, members: [{ username: 'mia' }] });
    const none = await client.raw(
      'GET',
      '/api/v2/organizations/default/paginated-members?q=github_user_id:42',
    );
    expect(none.body).toMatchObject({ count: 0, members: [] });
    const twice = await client.raw('GET', '/api/v2/users?q=a&q=b');
    expect(twice.status).toBe(400);
    expect(twice.body).toMatchObject({ validations: [{ field: 'q' }] });
  });

  it('never logs a credential sent in the query string, however its name is encoded', async () => {
    expect(safeUrl('/api/v2/users/me?coder%5Fsession%5Ftoken=abc-secret&limit=5')).toBe(
      '/api/v2/users/me?coder_session_token=%5Bredacted%5D&limit=5',
    );
    expect(safeUrl('/x?api_key=1&TOKEN=2')).not.toMatch(/=1|=2/);
  });
});

describe('malformed input', () => {
  const cases: [string, string, unknown, string?][] = [
    [
      'POST',
      '/api/v2/users/first',
      { email: 'not-an-email', username: 'x', password: 'longenough' },
      'email',
    ],
    ['POST', '/api/v2/users/login', { email: 'owner@example.com' }, 'password'],
    ['POST', '/api/v2/users/login', { email: 42, password: 'x' }, 'email'],
  ];
  it.each(cases)('%s %s with a bad field gets 400 naming it', async (method, path, body, field) => {
    const res = await h.client().raw(method, path, { body });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      message: 'Validation failed.',
      validations: expect.arrayContaining([expect.objectContaining({ field })]),
    });
  });

  const authedCases: [string, string, unknown, string][] = [
    [
      'POST',
      '/api/v2/users',
      { email: 'ok@example.com', username: 'bad_name!', password: 'longenough' },
      'username',
    ],
    ['POST', '/api/v2/users', { email: 'ok@example.com', username: 'okname', password: 'short' }, 'password'],
    [
      'POST',
      '/api/v2/users',
      { email: 'ok@example.com', username: 'okname', password: 'longenough', organization_ids: ['nope'] },
      'organization_ids',
    ],
    [
      'POST',
      '/api/v2/users',
      { email: 'ok@example.com', username: 'okname', password: 'longenough', user_status: 'sleepy' },
      'user_status',
    ],
    [
      'POST',
      '/api/v2/users',
      { email: 'ok@example.com', username: 'okname', password: 'longenough', login_type: 'magic' },
      'login_type',
    ],
    [
      'POST',
      '/api/v2/users',
      { email: 'ok@example.com', username: 'okname', password: 'longenough', roles: ['wizard'] },
      'roles',
    ],
    ['POST', '/api/v2/users/me/keys/tokens', { lifetime: 'forever' }, 'lifetime'],
    ['POST', '/api/v2/users/me/keys/tokens', { allow_list: [{ type: 1 }] }, 'allow_list.0.type'],
    ['PUT', '/api/v2/users/mia/roles', {}, 'roles'],
    ['PUT', '/api/v2/organizations/default/members/mia/roles', { roles: [7] }, 'roles'],
    ['PUT', '/api/v2/organizations/default/members/mia/roles', { roles: ['owner'] }, 'roles'],
    [
      'POST',
      '/api/v2/users',
      { email: 'ok@example.com', username: 'okname', password: 'longenough', login_type: 'token' },
      'login_type',
    ],
    [
      'POST',
      '/api/v2/users',
      { email: 'ok@example.com', username: 'ME', password: 'longenough' },
      'username',
    ],
    ['POST', '/api/v2/users/me/keys/tokens', { allow_list: [[]] }, 'allow_list'],
    [
      'POST',
      '/api/v2/users/me/keys/tokens',
      { allow_list: [{ type: 'user', id: 'someone' }] },
      'allow_list.0.id',
    ],
  ];
  it.each(authedCases)(
    '%s %s with a bad field gets 400 naming it and changes nothing',
    async (method, path, body, field) => {
      const { client } = await login();
      const before = await client.users();
      const res = await client.raw(method, path, { body });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        validations: expect.arrayContaining([expect.objectContaining({ field })]),
      });
      const after = await client.users();
      expect(after.users).toEqual(before.users);
    },
  );

  it('answers non-JSON, non-object and oversized bodies with 4xx, never 500', async () => {
    const { client } = await login();
    const token = client.sessionToken!;
    const bad = await h.client(token).raw('POST', '/api/v2/users', {
      rawBody: '{"email":',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ message: 'Invalid request body.', detail: expect.stringContaining('JSON') });
    const arr = await h.client(token).raw('POST', '/api/v2/users', { body: [1, 2] });
    expect(arr.status).toBe(400);
    const big = await h
      .client(token)
      .raw('POST', '/api/v2/users', { body: { email: 'x'.repeat(2 * 1024 * 1024) } });
    expect(big.status).toBe(413);
    const text = await h
      .client(token)
      .raw('POST', '/api/v2/users', { rawBody: 'hello', headers: { 'Content-Type': 'text/plain' } });
    expect(text.status).toBe(415);
    const form = await h.client().raw('POST', '/api/v2/users/login', {
      rawBody: `email=${OWNER.email}&password=${OWNER.password}`,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(415);
    let deep: unknown = 'x';
    for (let i = 0; i < 3000; i++) deep = [deep];
    const nested = await h
      .client()
      .raw('POST', '/api/v2/users/login', { body: { email: 'a@b.co', password: 'x', zz: deep } });
    expect(nested.status).toBe(400);
    expect(nested.body).toMatchObject({
      validations: [{ field: expect.stringMatching(/^zz/), detail: 'is nested more than 32 levels deep' }],
    });
    const badUrl = await h.client().raw('GET', '/api/v2/users/%FF');
    expect(badUrl.status).toBe(400);
    expect(badUrl.body).toEqual({ message: 'Invalid URL.' });
    expect(badUrl.headers.get('x-request-id')).toBeTruthy();
    const roles = await h.client(token).raw('PUT', '/api/v2/users/mia/roles', { body: { roles: 'owner' } });
    expect(roles.status).toBe(400);
    expect(roles.body).toMatchObject({ validations: [expect.objectContaining({ field: 'roles' })] });
  });

  it('rejects NUL characters anywhere in a request with 400 instead of a database error', async () => {
    const { client } = await login();
    const body = await client.raw('POST', '/api/v2/users', {
      body: { email: 'nul@example.com', username: 'nul', name: 'a\u0000b', password: 'longenough' },
    });
    expect(body.status).toBe(400);
    expect(body.body).toMatchObject({ validations: [{ field: 'name' }] });
    expect((await client.raw('GET', '/api/v2/users/ab%00cd')).status).toBe(400);
    expect((await client.raw('GET', '/api/v2/users?q=mi%00a')).status).toBe(400);
    expect(
      (await h.client().raw('POST', '/api/v2/users/login', { body: { email: 'a@b.co', password: '\u0000' } }))
        .status,
    ).toBe(400);
    expect((await client.users({ q: 'nul' })).users).toEqual([]);
  });

  it('serves the OpenAPI document listing the identity routes', async () => {
    const res = await h.client().raw('GET', '/api/docs');
    expect(res.status).toBe(200);
    const doc = res.body as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v2/users/first', '/api/v2/users/login', '/api/v2/organizations']),
    );
  });

  it('answers unknown routes with 404 in the error shape', async () => {
    const res = await h.client().raw('GET', '/api/v2/nope');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ message: 'Route not found.' });
  });
});

async function login() {
  const client = h.client();
  await client.login({ email: OWNER.email, password: OWNER.password });
  const me = await client.user('me');
  return { client, userId: me.id, orgId: me.organization_ids[0] };
}

// setupOwner is used by other suites; keep the import honest here too.
void setupOwner;
