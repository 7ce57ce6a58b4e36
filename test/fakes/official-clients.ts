import { Client as SendgridClient } from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';
import twilio from 'twilio';
import RequestClient from 'twilio/lib/base/RequestClient.js';
import type { SendgridApiFake } from './sendgrid-api.fake.ts';
import type { TwilioApiFake } from './twilio-api.fake.ts';

/**
 * The full official `twilio` client (what the Twilio docs show) pointed at a fake: a custom `httpClient`
 * (twilio's own axios `RequestClient`) that rewrites `https://api.twilio.com` to the fake's base URL.
 * Contract tests use it to prove the fake speaks Twilio's API as the SDK understands it, and that our
 * trimmed adapters send what the SDK sends. Test-only: it weighs 3.7 MB bundled.
 *
 * @example
 * ```ts
 * const client = officialTwilioClient(fake);
 * await client.messages.create({ to, from, body });
 * ```
 */
export function officialTwilioClient(fake: Pick<TwilioApiFake, 'baseUrl' | 'accountSid' | 'apiKeySid' | 'apiKeySecret'>): twilio.Twilio {
  class FakeRoutingClient extends RequestClient {
    override request<TData>(opts: RequestClient.RequestOptions<TData>) {
      return super.request({ ...opts, uri: opts.uri.replace('https://api.twilio.com', fake.baseUrl) });
    }
  }
  return twilio(fake.apiKeySid, fake.apiKeySecret, { accountSid: fake.accountSid, httpClient: new FakeRoutingClient() });
}

/**
 * The official `@sendgrid/mail` service (what the SendGrid docs show) pointed at a fake, the documented
 * way: a `@sendgrid/client` `Client` whose default `baseUrl` is the fake, given with `setClient`.
 *
 * @example
 * ```ts
 * const [response] = await officialSendgridMail(fake).send({ to, from, subject, text });
 * ```
 */
export function officialSendgridMail(fake: Pick<SendgridApiFake, 'baseUrl' | 'apiKey'>): MailService {
  const client = new SendgridClient();
  client.setApiKey(fake.apiKey);
  client.setDefaultRequest('baseUrl', fake.baseUrl);
  const mail = new MailService();
  mail.setClient(client);
  return mail;
}
