import { beforeAll, describe, expect, it } from 'vitest';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { signedUrl, verifiedTwilioForm } from '#shared/channels/twilio/twilio-webhook.ts';
import { SignatureError, UnsupportedMediaTypeError, ValidationError } from '#shared/errors.ts';

// Twilio's published request-validation vectors (auth token 12345), as its SDK test suites use them.
const PARAMS = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' };
const SIGNATURE = 'RSOYDt4T1cUTdK1PDd93/VVr8B8=';
const anyForm = z.object({}).catchall(z.union([z.string(), z.array(z.string())]));

function apiGatewayEvent(body: string, headers: Record<string, string>, options: { base64?: boolean; host?: string } = {}): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /myapp.php',
    rawPath: '/myapp.php',
    rawQueryString: 'foo=1&bar=2',
    // Behind API Gateway the Host is the gateway's, never what Twilio was configured with.
    headers: { host: options.host ?? 'abc123.execute-api.eu-west-1.amazonaws.com', 'content-type': 'application/x-www-form-urlencoded', ...headers },
    requestContext: {} as APIGatewayProxyEventV2['requestContext'],
    body: options.base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: options.base64 ?? false,
  };
}

describe('Twilio webhook signature (the twilio package validator, against PUBLIC_BASE_URL + path + query)', () => {
  beforeAll(() => {
    process.env.TWILIO_AUTH_TOKEN = '12345';
    process.env.PUBLIC_BASE_URL = 'https://mycompany.com';
  });

  it('accepts Twilio’s published vector, base64-encoded by API Gateway, whatever the Host header', async () => {
    // Prepare
    const event = apiGatewayEvent(new URLSearchParams(PARAMS).toString(), { 'x-twilio-signature': SIGNATURE }, { base64: true });
    // Act
    const params = await verifiedTwilioForm(event, anyForm);
    // Assess
    expect(signedUrl(event)).toBe('https://mycompany.com/myapp.php?foo=1&bar=2');
    expect(params).toEqual(PARAMS);
  });

  it('accepts the published vector for repeated parameters', async () => {
    const body = 'Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234';
    const params = await verifiedTwilioForm(apiGatewayEvent(body, { 'x-twilio-signature': 'IK+Dwps556ElfBT0I3Rgjkr1wJU=' }), anyForm);
    expect(params.Digits).toEqual(['5678', '1234', '1234']);
  });

  it('accepts the published mixed-case host vector', async () => {
    process.env.PUBLIC_BASE_URL = 'https://MyCompany.com';
    try {
      const event = apiGatewayEvent(new URLSearchParams(PARAMS).toString(), { 'x-twilio-signature': 'g9IN/x4Cft2g517EjYvEvM/W7LU=' });
      await expect(verifiedTwilioForm(event, anyForm)).resolves.toEqual(PARAMS);
    } finally {
      process.env.PUBLIC_BASE_URL = 'https://mycompany.com';
    }
  });

  it.each([
    ['a tampered parameter', { ...PARAMS, Digits: '9999' }, SIGNATURE, 'foo=1&bar=2'],
    ['an extra parameter', { ...PARAMS, Extra: 'x' }, SIGNATURE, 'foo=1&bar=2'],
    ['a different query string', PARAMS, SIGNATURE, 'foo=1&bar=3'],
    ['a forged signature', PARAMS, 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=', 'foo=1&bar=2'],
    ['a signature made with another token', PARAMS, 'Rk9PQkFSCg==', 'foo=1&bar=2'],
  ])('refuses %s with a SignatureError (403)', async (_name, params, signature, query) => {
    const event = { ...apiGatewayEvent(new URLSearchParams(params).toString(), { 'x-twilio-signature': signature }), rawQueryString: query };
    await expect(verifiedTwilioForm(event, anyForm)).rejects.toBeInstanceOf(SignatureError);
  });

  it('refuses a request without X-Twilio-Signature before reading the body', async () => {
    await expect(verifiedTwilioForm(apiGatewayEvent('%%%', {}), anyForm)).rejects.toBeInstanceOf(SignatureError);
  });

  it('refuses a body that is not form-encoded (415) and a body with broken escapes (400)', async () => {
    const json = { ...apiGatewayEvent('{}', { 'x-twilio-signature': SIGNATURE }), headers: { 'content-type': 'application/json', 'x-twilio-signature': SIGNATURE } };
    await expect(verifiedTwilioForm(json, anyForm)).rejects.toBeInstanceOf(UnsupportedMediaTypeError);
    await expect(verifiedTwilioForm(apiGatewayEvent('a=%zz', { 'x-twilio-signature': SIGNATURE }), anyForm)).rejects.toBeInstanceOf(ValidationError);
  });
});
