import { z } from 'zod';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { getSecretSetting } from '#shared/config.ts';
import { identity } from '#shared/domain/identity.ts';
import type { IdentityRef, InboundMessage } from '#shared/domain/message.ts';
import { ValidationError } from '#shared/errors.ts';
import { verifyChatSignature } from '#shared/channels/chat/chat-signature.ts';
import { header, rawBody, requireContentType } from '#shared/http/request.ts';

const chatWebhookSchema = z.strictObject({
  messageId: z.string().min(1).max(200),
  userId: z.string().min(1).max(128),
  text: z.string().min(1).max(20_000),
  sentAt: z.iso.datetime({ offset: true }),
  email: z.string().max(254).optional(),
  phone: z.string().max(64).optional(),
  name: z.string().max(200).optional(),
});

/** A chat body may be at most this large: messages are text, not files. */
const MAX_CHAT_BODY_BYTES = 64 * 1024;

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
  if (body.email !== undefined) links.push(identity.email(body.email));
  if (body.phone !== undefined) links.push(identity.phone(body.phone));
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
