import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseInboundParse } from '#shared/channels/email/inbound-parse.ts';
import { dkimVerdicts, senderAuthentication } from '#shared/channels/email/sender-authentication.ts';
import { buildMultipart, sampleEmail } from '#test/unit/email/sendgrid-multipart.ts';

/** A raw `headers` block with one `DKIM-Signature` per domain, folded as mailers fold them. */
function signedBy(...domains: string[]): string {
  return domains.map((d) => `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n        d=${d}; s=s1; h=from:to;\r\n bh=abc=; b=def=`).join('\r\n');
}

const envelopeFrom = (from: string) => JSON.stringify({ to: ['support@inbound.example.net'], from });

describe('senderAuthentication', () => {
  it('verifies a DKIM pass by the From domain or a parent of it', () => {
    // Act
    const same = senderAuthentication('jane@example.com', { spf: 'fail', dkim: '{@example.com : pass}', headers: signedBy('example.com') });
    const parent = senderAuthentication('jane@mail.example.com', { dkim: '{@Example.COM. : pass}', headers: signedBy('example.com') });

    // Assess
    expect(same).toEqual({ spf: 'fail', dkim: [{ domain: 'example.com', result: 'pass' }], senderVerified: true });
    expect(parent).toEqual({ dkim: [{ domain: 'example.com', result: 'pass' }], senderVerified: true });
  });

  it('does not verify a DKIM pass by another domain, a subdomain, a look-alike or a bare TLD', () => {
    // Prepare
    const cases: Array<[from: string, signer: string]> = [
      ['jane@example.com', 'sendgrid.net'],
      ['jane@example.com', 'mail.example.com'],
      ['jane@example.com', 'badexample.com'],
      ['jane@notexample.com', 'example.com'],
      ['jane@example.com', 'com'],
    ];

    // Act
    const verdicts = cases.map(([from, signer]) => senderAuthentication(from, { dkim: `{@${signer} : pass}`, headers: signedBy(signer) }).senderVerified);

    // Assess
    expect(verdicts).toEqual([false, false, false, false, false]);
  });

  it('finds the aligned pass among several signatures, and ignores an aligned failure', () => {
    // Act
    const several = senderAuthentication('jane@example.com', { dkim: '{@sendgrid.net : pass, @example.com : pass}', headers: signedBy('sendgrid.net', 'example.com') });
    const failed = senderAuthentication('jane@example.com', { dkim: '{@example.com : fail, @sendgrid.net : pass}', headers: signedBy('example.com', 'sendgrid.net') });

    // Assess
    expect(several.senderVerified).toBe(true);
    expect(failed).toEqual({
      dkim: [
        { domain: 'example.com', result: 'fail' },
        { domain: 'sendgrid.net', result: 'pass' },
      ],
      senderVerified: false,
    });
  });

  it('verifies an SPF pass only for an envelope sender aligned with From', () => {
    // Act
    const aligned = senderAuthentication('jane@example.com', { spf: 'pass', dkim: 'none', envelope: envelopeFrom('bounces@example.com') });
    const parent = senderAuthentication('jane@eu.example.com', { spf: 'Pass', envelope: envelopeFrom('<bounces@example.com>') });
    const other = senderAuthentication('jane@example.com', { spf: 'pass', envelope: envelopeFrom('bounce@attacker.example') });
    const nullPath = senderAuthentication('jane@example.com', { spf: 'pass', envelope: envelopeFrom('') });
    const noEnvelope = senderAuthentication('jane@example.com', { spf: 'pass' });

    // Assess
    expect(aligned).toEqual({ spf: 'pass', dkim: [], senderVerified: true });
    expect(parent.senderVerified).toBe(true);
    expect([other, nullPath, noEnvelope].map((a) => a.senderVerified)).toEqual([false, false, false]);
  });

  it('does not verify SPF fail, softfail, neutral or none with DKIM none, even with an aligned envelope', () => {
    // Act
    const verdicts = ['fail', 'softfail', 'neutral', 'none'].map((spf) =>
      senderAuthentication('jane@example.com', { spf, dkim: 'none', envelope: envelopeFrom('jane@example.com') }),
    );

    // Assess
    expect(verdicts.map((a) => a.senderVerified)).toEqual([false, false, false, false]);
    expect(verdicts.map((a) => a.spf)).toEqual(['fail', 'softfail', 'neutral', 'none']);
  });

  it('does not count a DKIM pass whose signature header is missing or names another d= (an injected verdict)', () => {
    // Prepare: a signature whose d= itself reads like a second verdict
    const injectedD = 'victim.example : pass, @x.attacker.example';
    const dkim = '{@victim.example : pass, @x.attacker.example : pass}';

    // Act
    const injected = senderAuthentication('ceo@victim.example', { dkim, headers: signedBy(injectedD) });
    const withCopiedSignature = senderAuthentication('ceo@victim.example', { dkim: `${dkim.slice(0, -1)}, @victim.example : fail}`, headers: signedBy(injectedD, 'victim.example') });
    const noHeaders = senderAuthentication('ceo@victim.example', { dkim: '{@victim.example : pass}' });

    // Assess
    expect([injected, withCopiedSignature, noHeaders].map((a) => a.senderVerified)).toEqual([false, false, false]);
  });

  it('treats garbage verdicts and addresses as not verified, without throwing', () => {
    // Prepare
    const garbage = ['', '   ', 'PASS!!', '{', '{}', '{@example.com}', '{@example.com : pass', '@example.com : pass', '{@exa mple.com : pass}', '{@example.com : pass}}', '{"example.com":"pass"}', 'x'.repeat(10_000), '\u0000{@example.com : pass}'];

    // Act
    const results = garbage.map((value) => senderAuthentication('jane@example.com', { spf: value, dkim: value, envelope: value, headers: signedBy('example.com') }));
    const literal = senderAuthentication('jane@[192.0.2.1]', { spf: 'pass', dkim: '{@example.com : pass}', envelope: envelopeFrom('jane@[192.0.2.1]'), headers: signedBy('example.com') });

    // Assess
    for (const result of results) expect(result).toEqual({ dkim: [], senderVerified: false });
    expect(literal.senderVerified).toBe(false);
  });

  it('never throws and never verifies without a pass, whatever the fields hold (property)', () => {
    const field = fc.option(fc.oneof(fc.string({ maxLength: 120 }), fc.string({ unit: 'binary', maxLength: 120 }), fc.json()), { nil: undefined });
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), field, field, field, field, (from, spf, dkim, envelope, headers) => {
        // Act
        const result = senderAuthentication(from, { spf, dkim, envelope, headers });

        // Assess
        expect(typeof result.senderVerified).toBe('boolean');
        if (result.senderVerified) expect(result.spf === 'pass' || result.dkim.some((v) => v.result === 'pass')).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('dkimVerdicts', () => {
  it('reads every documented form, results lower-cased and details dropped', () => {
    // Act
    const single = dkimVerdicts('{@sendgrid.com : pass}');
    const many = dkimVerdicts('{@a.example : pass, @B.example : FAIL (body hash did not verify), @c.example : neutral}');

    // Assess
    expect(single).toEqual([{ domain: 'sendgrid.com', result: 'pass' }]);
    expect(many).toEqual([
      { domain: 'a.example', result: 'pass' },
      { domain: 'b.example', result: 'fail' },
      { domain: 'c.example', result: 'neutral' },
    ]);
    expect(dkimVerdicts('none')).toEqual([]);
    expect(dkimVerdicts(undefined)).toEqual([]);
  });

  it('drops the whole field when it lists more verdicts than a real mail carries', () => {
    // Act
    const verdicts = dkimVerdicts(`{${Array.from({ length: 21 }, (_, i) => `@d${i}.example : pass`).join(', ')}}`);

    // Assess
    expect(verdicts).toEqual([]);
  });
});

describe('parseInboundParse reads the verdicts', () => {
  it('records SPF, DKIM and the verdict of the sample SendGrid post', async () => {
    // Prepare: sampleEmail is signed by example.com, SPF pass, From jane@example.com
    const { body, contentType } = buildMultipart({ fields: sampleEmail() });

    // Act
    const email = await parseInboundParse(body, contentType);

    // Assess
    expect(email.authentication).toEqual({ spf: 'pass', dkim: [{ domain: 'example.com', result: 'pass' }], senderVerified: true });
  });

  it('flags a forged From (DKIM and SPF for the attacker’s own domain) as not verified, and still parses it', async () => {
    // Prepare
    const fields = sampleEmail({
      from: 'victim@example.com',
      headers: `${signedBy('attacker.example')}\r\nFrom: victim@example.com\r\nMessage-ID: <forged@attacker.example>\r\n`,
      dkim: '{@attacker.example : pass}',
      SPF: 'pass',
      envelope: envelopeFrom('bounce@attacker.example'),
    });
    const { body, contentType } = buildMultipart({ fields });

    // Act
    const email = await parseInboundParse(body, contentType);

    // Assess
    expect(email.fromAddress).toBe('victim@example.com');
    expect(email.authentication).toEqual({ spf: 'pass', dkim: [{ domain: 'attacker.example', result: 'pass' }], senderVerified: false });
  });

  it('treats missing verdict fields as not verified', async () => {
    // Prepare
    const fields = sampleEmail();
    delete fields.SPF;
    delete fields.dkim;
    delete fields.envelope;
    const { body, contentType } = buildMultipart({ fields });

    // Act
    const email = await parseInboundParse(body, contentType);

    // Assess
    expect(email.authentication).toEqual({ dkim: [], senderVerified: false });
  });
});
