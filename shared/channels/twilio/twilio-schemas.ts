import { z } from 'zod';

const sid = (prefix: string) => z.string().regex(new RegExp(`^${prefix}[0-9a-fA-F]{32}$`), `a ${prefix}… SID`);
const httpUrl = z.url({ protocol: /^https?$/ });

/** Twilio Messaging webhook (SMS/MMS). `NumMedia` media entries become attachments. */
export const smsWebhookSchema = z
  .object({
    MessageSid: z.union([sid('SM'), sid('MM')]),
    AccountSid: sid('AC').optional(),
    From: z.string().min(1).max(64),
    To: z.string().min(1).max(64),
    Body: z.string().max(20_000).default(''),
    NumMedia: z.coerce.number().int().min(0).max(10).default(0),
    OptOutType: z.enum(['STOP', 'START', 'HELP']).optional(),
  })
  .catchall(z.string())
  .superRefine((value, ctx) => {
    for (let i = 0; i < value.NumMedia; i++) {
      if (!httpUrl.safeParse(value[`MediaUrl${i}`]).success) ctx.addIssue({ code: 'custom', path: [`MediaUrl${i}`], message: 'missing media URL' });
      if (!value[`MediaContentType${i}`]) ctx.addIssue({ code: 'custom', path: [`MediaContentType${i}`], message: 'missing media type' });
    }
  });

/** Twilio Voice webhook: the first request of a call, and the `action` request after `<Record>`. */
export const voiceWebhookSchema = z
  .object({
    CallSid: sid('CA'),
    From: z.string().min(1).max(64),
    To: z.string().min(1).max(64),
    CallStatus: z.string().max(32).optional(),
    RecordingSid: sid('RE').optional(),
  })
  .catchall(z.string());

/** Twilio transcription callback of a `<Record transcribe="true">`. */
export const transcriptionSchema = z
  .object({
    CallSid: sid('CA'),
    RecordingSid: sid('RE'),
    TranscriptionSid: sid('TR'),
    TranscriptionText: z.string().max(20_000).default(''),
    TranscriptionStatus: z.enum(['completed', 'failed']),
    RecordingUrl: httpUrl.optional(),
    From: z.string().min(1).max(64),
    To: z.string().min(1).max(64),
  })
  .catchall(z.string());
