import * as z from 'zod/mini';

// zod/mini: the same validation as zod, tree-shaken to what is used (full zod adds ~440 KB to a bundle).
const sid = (prefix: string) => z.string().check(z.regex(new RegExp(`^${prefix}[0-9a-fA-F]{32}$`), `a ${prefix}… SID`));
const httpUrl = z.url({ protocol: /^https?$/ });
const party = z.string().check(z.minLength(1), z.maxLength(64));
/** A voice call's party: a phone number, or a SIP URI (`sip:user@host;params`) or `client:` identity, which run long. */
const caller = z.string().check(z.minLength(1), z.maxLength(512));
const text = z.string().check(z.maxLength(20_000));

/** Twilio Messaging webhook (SMS/MMS). `NumMedia` media entries become attachments. */
export const smsWebhookSchema = z
  .catchall(
    z.object({
      MessageSid: z.union([sid('SM'), sid('MM')]),
      AccountSid: z.optional(sid('AC')),
      From: party,
      To: party,
      Body: z._default(text, ''),
      NumMedia: z._default(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(10)), 0),
      OptOutType: z.optional(z.enum(['STOP', 'START', 'HELP'])),
    }),
    z.string(),
  )
  .check(
    z.superRefine((value, ctx) => {
      for (let i = 0; i < value.NumMedia; i++) {
        if (!httpUrl.safeParse(value[`MediaUrl${i}`]).success) ctx.issues.push({ code: 'custom', path: [`MediaUrl${i}`], message: 'missing media URL', input: value });
        if (!value[`MediaContentType${i}`]) ctx.issues.push({ code: 'custom', path: [`MediaContentType${i}`], message: 'missing media type', input: value });
      }
    }),
  );

/** Twilio Voice webhook: the first request of a call, and the `action` request after `<Record>`. */
export const voiceWebhookSchema = z.catchall(
  z.object({
    CallSid: sid('CA'),
    From: caller,
    To: caller,
    CallStatus: z.optional(z.string().check(z.maxLength(32))),
    RecordingSid: z.optional(sid('RE')),
  }),
  z.string(),
);

/** Twilio transcription callback of a `<Record transcribe="true">`. */
export const transcriptionSchema = z.catchall(
  z.object({
    CallSid: sid('CA'),
    RecordingSid: sid('RE'),
    TranscriptionSid: sid('TR'),
    TranscriptionText: z._default(text, ''),
    TranscriptionStatus: z.enum(['completed', 'failed']),
    RecordingUrl: z.optional(httpUrl),
    From: party,
    To: party,
  }),
  z.string(),
);
