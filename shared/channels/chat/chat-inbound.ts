import * as z from 'zod/mini';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { getSecretSetting } from '#shared/config.ts';
import { identity } from '#shared/domain/identity.ts';
import type { IdentityRef, InboundMessage } from '#shared/domain/message.ts';
import { ValidationError } from '#shared/errors.ts';
import { verifyChatSignature } from '#shared/channels/chat/chat-signature.ts';
import { header, rawBody, requireContentType } from '#shared/http/request.ts';

const bounded = (min: number, max: number) => z.string().check(z.minLength(min), z.maxLength(max));

const chatWebhookSchema = z.strictObject({
  messageId: bounded(1, 200),
  userId: bounded(1, 128),
  text: bounded(1, 20_000),
  sentAt: z.iso.datetime({ offset: true }),
  // Optional fields may also be null: many JSON serializers write an unset field that way.
  email: z.nullish(bounded(1, 254)),
  phone: z.nullish(bounded(1, 64)),
  name: z.nullish(bounded(0, 200)),
});

/**
 * A chat body may be at most this large: messages are text, not files. 20,000 characters of text written
 * as `\uXXXX` escapes (as some JSON encoders write every non-ASCII character) take 120,000 bytes.
 */
const MAX_CHAT_BODY_BYTES = 128 * 1024;

/**
 * Verifies and parses a chat webhook into an inbound message. The chat backend is trusted (it signs as
 * the customer's own app), so its `email`/`phone` become identity links. Signature before parsing.
 *
 * @example
 * ```ts
 * const message = await parseChatWebhook(event, Date.now() / 1000);
 * ```
 */
export async function parseChatWebhook(event: APIGatewayProxyEventV2, nowSeconds: number): Promise<InboundMessage> {
  const raw = rawBody(event, MAX_CHAT_BODY_BYTES);
  verifyChatSignature({
    secret: await getSecretSetting('CHAT_WEBHOOK_SECRET'),
    timestamp: header(event, 'x-chat-timestamp'),
    signature: header(event, 'x-chat-signature'),
    rawBody: raw,
    nowSeconds,
  });
  requireContentType(event, 'application/json');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (cause) {
    throw new ValidationError('Body is not valid JSON', { cause });
  }
  const parsed = chatWebhookSchema.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(body)'))].join(', ');
    throw new ValidationError(`Invalid chat message fields: ${fields}`);
  }
  const body = parsed.data;
  const links: IdentityRef[] = [];
  if (body.email !== undefined && body.email !== null) links.push(identity.email(body.email));
  if (body.phone !== undefined && body.phone !== null) links.push(identity.phone(body.phone));
  return {
    channel: 'chat',
    dedupeKey: `${body.userId}\u0000${body.messageId}`,
    from: identity.chat(body.userId),
    links,
    body: body.text,
    sentAt: new Date(body.sentAt).toISOString(),
    ...(body.name ? { displayName: body.name } : {}),
  };
}
