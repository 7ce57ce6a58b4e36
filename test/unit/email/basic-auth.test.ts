import { describe, expect, it, vi } from 'vitest';
import { requireInboundBasicAuth, verifyBasicAuth } from '#shared/channels/email/basic-auth.ts';
import { ForbiddenError, UnauthenticatedError } from '#shared/errors.ts';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
const secret = async () => 's3cret-💡-value';

describe('requireInboundBasicAuth', () => {
  it('passes the right user and password', async () => {
    // Prepare
    const authorization = basic('inbound', 's3cret-💡-value');

    // Act
    const checking = requireInboundBasicAuth(authorization, { secret });

    // Assess
    await expect(checking).resolves.toBeUndefined();
  });

  it('accepts the scheme in any case and a password holding colons', () => {
    // Prepare
    const authorization = `bAsIc ${Buffer.from('inbound:a:b:c').toString('base64')}`;

    // Act
    const check = () => verifyBasicAuth(authorization, { user: 'inbound', password: 'a:b:c' });

    // Assess
    expect(check).not.toThrow();
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['another scheme', 'Bearer abc.def.ghi'],
    ['not base64', 'Basic ???'],
    ['no colon', `Basic ${Buffer.from('inbound').toString('base64')}`],
  ])('answers %s credentials with UnauthenticatedError (401) without fetching the secret', async (_label, authorization) => {
    // Prepare
    const fetchSecret = vi.fn(secret);

    // Act
    const checking = requireInboundBasicAuth(authorization, { secret: fetchSecret });

    // Assess
    await expect(checking).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(fetchSecret).not.toHaveBeenCalled();
  });

  it.each([
    ['a wrong user', basic('admin', 's3cret-💡-value')],
    ['a wrong password', basic('inbound', 's3cret-💡-valuE')],
    ['a password prefix', basic('inbound', 's3cret')],
    ['a longer password', basic('inbound', 's3cret-💡-value-and-more')],
    ['an empty password', basic('inbound', '')],
  ])('answers %s with ForbiddenError (403)', async (_label, authorization) => {
    // Prepare
    const fetchSecret = vi.fn(secret);

    // Act
    const checking = requireInboundBasicAuth(authorization, { secret: fetchSecret });

    // Assess
    await expect(checking).rejects.toBeInstanceOf(ForbiddenError);
    await expect(checking).rejects.not.toBeInstanceOf(UnauthenticatedError);
  });
});
