import { join } from 'node:path';
import { generateKeyPair, importJWK, SignJWT, UnsecuredJWT, type CryptoKey, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { loadOrCreateDevKey } from '#shared/auth/dev-issuer.ts';
import { baseUrl, postChat, stackEnv, staffToken } from '#test/helpers/index.ts';
import { expectError, freshId, staffGet } from './support.ts';

async function seedChatThread(count: number): Promise<{ userId: string; conversationId: string }> {
  const userId = freshId('pager');
  let conversationId = '';
  for (let i = 0; i < count; i++) {
    const res = await postChat(baseUrl(), { messageId: `m${i}`, userId, text: `message ${i}`, sentAt: new Date().toISOString() }, { secret: stackEnv().CHAT_WEBHOOK_SECRET });
    conversationId = ((await res.json()) as { conversationId: string }).conversationId;
  }
  return { userId, conversationId };
}

type Crafted = { payload: JWTPayload; kid: string; devPrivateKey: CryptoKey };

/**
 * A token shaped exactly like the dev issuer's (ES256, the stack's key id, `iss`, `aud`, a `sub`, roles
 * agent and approver, valid for an hour). `spoil` changes its claims; `finish` signs it, by default with
 * the stack's own dev issuer key (`$DATA_DIR/dev-issuer-key.json`, as test/helpers/auth.ts does).
 */
async function craftToken(
  spoil: (payload: JWTPayload) => void = () => {},
  finish: (t: Crafted) => Promise<string> = (t) => new SignJWT(t.payload).setProtectedHeader({ alg: 'ES256', kid: t.kid, typ: 'JWT' }).sign(t.devPrivateKey),
): Promise<string> {
  const env = stackEnv();
  const key = await loadOrCreateDevKey(join(env.DATA_DIR, 'dev-issuer-key.json'));
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = { sub: freshId('mallory'), iss: env.JWT_ISSUER, aud: env.JWT_AUDIENCE, iat: now, exp: now + 3600, 'cognito:groups': ['agent', 'approver'], token_use: 'id' };
  spoil(payload);
  return finish({ payload, kid: key.kid, devPrivateKey: (await importJWK(key.privateJwk, 'ES256')) as CryptoKey });
}

/** Another ES256 key pair's private key: a signer the stack has never trusted. */
const strangerKey = async () => (await generateKeyPair('ES256')).privateKey;

/** The two staff routes the token cases are tried on: one for agents, one for approvers. */
const guarded = () => [`${baseUrl()}/customers?phone=%2B16285550199`, `${baseUrl()}/approvals`];

describe('staff read API', () => {
  describe('authentication and roles', () => {
    it('refuses a missing, malformed, forged or expired token with 401', async () => {
      const url = `${baseUrl()}/customers?chatUserId=someone`;
      await expectError(await fetch(url), 401);
      await expectError(await fetch(url, { headers: { authorization: 'Bearer not.a.jwt' } }), 401);
      await expectError(await fetch(url, { headers: { authorization: 'Basic Zm9vOmJhcg==' } }), 401);
      const valid = await staffToken('alice', ['agent']);
      const [h, p] = valid.split('.');
      await expectError(await fetch(url, { headers: { authorization: `Bearer ${h}.${p}.${'A'.repeat(86)}` } }), 401);
      const expired = await staffToken('alice', ['agent'], { expiresIn: '-1m' });
      await expectError(await fetch(url, { headers: { authorization: `Bearer ${expired}` } }), 401);
    });

    it('challenges with WWW-Authenticate: Bearer on a 401 (RFC 6750), naming an invalid token as such', async () => {
      const url = `${baseUrl()}/customers?chatUserId=someone`;
      const missing = await fetch(url);
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toBe('Bearer');
      const invalid = await fetch(url, { headers: { authorization: 'Bearer not.a.jwt' } });
      expect(invalid.status).toBe(401);
      expect(invalid.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    });

    it.each(['bearer ', 'BEARER ', 'Bearer  ', 'Bearer\t'])('takes the scheme written %j (case-insensitive, any blanks before the token)', async (scheme) => {
      const res = await fetch(`${baseUrl()}/customers?chatUserId=${freshId('nobody')}`, { headers: { authorization: `${scheme}${await staffToken('alice', ['agent'])}` } });
      await expectError(res, 404); // authenticated; nobody has that chat id
    });

    it('accepts a token crafted like the dev issuer\'s, so the refusals below are down to the one thing each spoils', async () => {
      // Act
      const token = await craftToken();
      const [customers, approvals] = await Promise.all(guarded().map((url) => fetch(url, { headers: { authorization: `Bearer ${token}` } })));
      // Assess
      await expectError(customers!, 404); // authenticated and allowed; nobody has that phone
      expect(approvals!.status).toBe(200);
    });

    it.each([
      ['the wrong issuer', () => craftToken((p) => void (p.iss = 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_someoneElse'))],
      ['the wrong audience', () => craftToken((p) => void (p.aud = 'another-app-client'))],
      ['an audience list without ours', () => craftToken((p) => void (p.aud = ['another-app-client', 'omnichannel-staff-not']))],
      ['an expiry two minutes ago', () => craftToken((p) => void (p.exp = Math.floor(Date.now() / 1000) - 120))],
      ['a not-before an hour ahead', () => craftToken((p) => void (p.nbf = Math.floor(Date.now() / 1000) + 3600))],
      ['a signature by a different key under the dev key\'s kid', () => craftToken(undefined, async (t) => new SignJWT(t.payload).setProtectedHeader({ alg: 'ES256', kid: t.kid, typ: 'JWT' }).sign(await strangerKey()))],
      ['a signature by a different key under its own kid', () => craftToken(undefined, async (t) => new SignJWT(t.payload).setProtectedHeader({ alg: 'ES256', kid: 'stranger-1', typ: 'JWT' }).sign(await strangerKey()))],
      ['no signature (alg: none)', () => craftToken(undefined, async (t) => new UnsecuredJWT(t.payload).encode())],
      ['no expiry at all', () => craftToken((p) => void delete p.exp)],
      ['no subject', () => craftToken((p) => void delete p.sub)],
      ['an empty subject', () => craftToken((p) => void (p.sub = ''))],
    ])('refuses a token with %s with 401 unauthenticated on every staff route', async (_name, make) => {
      // Prepare
      const token = await make();
      // Act
      const answers = await Promise.all(guarded().map((url) => fetch(url, { headers: { authorization: `Bearer ${token}` } })));
      // Assess
      for (const res of answers) {
        const body = (await res.clone().json()) as { error: { code: string } };
        await expectError(res, 401);
        expect(body.error.code, res.url).toBe('unauthenticated');
      }
    });

    it('refuses a valid token without the agent role with 403, and lets admins through', async () => {
      await expectError(await staffGet('/customers?chatUserId=someone', ['editor']), 403);
      await expectError(await staffGet('/customers?chatUserId=someone', []), 403);
      expect((await staffGet('/customers?chatUserId=someone', ['admin'])).status).toBe(404);
    });
  });

  describe('GET /customers', () => {
    it.each([['', 400], ['phone=%2B16285550100&email=a%40b.co', 400], ['phone=12', 400], ['email=nope', 400], ['chatUserId=', 400], ['email=nobody%40example.com', 404]])(
      '?%s → %i',
      async (query, status) => expectError(await staffGet(`/customers?${query}`), status),
    );
  });

  describe('GET /conversations/{id}', () => {
    it('shows the customer, identities, status and timestamps', async () => {
      const { userId, conversationId } = await seedChatThread(2);
      const res = await staffGet(`/conversations/${conversationId}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ conversationId, status: 'open', identities: [{ kind: 'chat', value: userId }] });
      expect(Date.parse(body.createdAt as string)).toBeLessThanOrEqual(Date.parse(body.lastMessageAt as string));
    });

    it('answers 404 for unknown and malformed ids', async () => {
      await expectError(await staffGet(`/conversations/conv_${'0'.repeat(32)}`), 404);
      await expectError(await staffGet('/conversations/nope'), 404);
      await expectError(await staffGet(`/conversations/conv_${'0'.repeat(32)}/messages`), 404);
    });
  });

  describe('GET /conversations/{id}/messages', () => {
    it('pages through a thread oldest first with cursors, every message once', async () => {
      const { conversationId } = await seedChatThread(23);
      const seen: string[] = [];
      let cursor: string | null = null;
      const sizes: number[] = [];
      do {
        const res = await staffGet(`/conversations/${conversationId}/messages?limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(res.status).toBe(200);
        const page = (await res.json()) as { items: Array<{ body: string; createdAt: string }>; nextCursor: string | null };
        sizes.push(page.items.length);
        seen.push(...page.items.map((m) => m.body));
        cursor = page.nextCursor;
      } while (cursor);
      expect(sizes).toEqual([10, 10, 3]);
      expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => `message ${i}`));
    });

    it('defaults to pages of 50', async () => {
      const { conversationId } = await seedChatThread(3);
      const page = (await (await staffGet(`/conversations/${conversationId}/messages`)).json()) as { items: unknown[]; nextCursor: unknown };
      expect(page.items).toHaveLength(3);
      expect(page.nextCursor).toBeNull();
    });

    it.each([['limit=0'], ['limit=101'], ['limit=abc'], ['limit=1.5'], ['cursor=%%%'], ['cursor=bm90LWpzb24'], [`cursor=${Buffer.from(JSON.stringify({ t: 'x', m: 'y' })).toString('base64url')}`]])(
      '?%s → 400',
      async (query) => {
        const { conversationId } = await seedChatThread(1);
        await expectError(await staffGet(`/conversations/${conversationId}/messages?${query}`), 400);
      },
    );

    describe('a cursor the API could not have written is a 400, never a failed Query (500)', () => {
      const id = `msg_${'ab'.repeat(16)}`;
      const at = '2026-03-01T12:00:00.000Z';
      const cursor = (position: unknown) => Buffer.from(JSON.stringify(position)).toString('base64url');
      it.each([
        ['over the 1024-byte sort key limit', { t: `${'x'.repeat(1100)}#y`, m: 'y' }],
        ['over the limit, ending in a real message id', { t: `${at.repeat(50)}#${id}`, m: id }],
        ['a time that is not toISOString()', { t: `2026-03-01 12:00:00#${id}`, m: id }],
        ['a date that does not exist', { t: `2026-13-45T12:00:00.000Z#${id}`, m: id }],
        ['a message id of another shape', { t: `${at}#m1`, m: 'm1' }],
        ['a message id other than the position', { t: `${at}#${id}`, m: `msg_${'cd'.repeat(16)}` }],
        ['not an object', null],
        ['a number for t', { t: 1, m: id }],
      ])('%s', async (_, position) => {
        const { conversationId } = await seedChatThread(1);
        const res = await staffGet(`/conversations/${conversationId}/messages?cursor=${cursor(position)}`);
        await expectError(res.clone(), 400);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('bad_request');
      });

      it('a well-formed cursor for a position in the thread still pages on', async () => {
        const { conversationId } = await seedChatThread(3);
        const first = (await (await staffGet(`/conversations/${conversationId}/messages?limit=1`)).json()) as { items: Array<{ body: string }>; nextCursor: string };
        const rest = (await (await staffGet(`/conversations/${conversationId}/messages?cursor=${first.nextCursor}`)).json()) as { items: Array<{ body: string }> };
        expect([...first.items, ...rest.items].map((m) => m.body)).toEqual(['message 0', 'message 1', 'message 2']);
      });
    });
  });

  it('answers 404 with the error body for unknown routes', async () => {
    await expectError(await fetch(`${baseUrl()}/nope`), 404);
    await expectError(await fetch(`${baseUrl()}/customers`, { method: 'DELETE' }), 404);
  });
});
