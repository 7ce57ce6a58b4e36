import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultInboundParseLimits, parseInboundParse, type InboundParseLimits } from '#shared/channels/email/inbound-parse.ts';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '#shared/errors.ts';
import { applyMutations } from '#test/helpers/hostile.ts';
import { buildMultipart, hostileFieldsMail, multipartMutation, randomContentType, randomMultipartBody, sampleEmail, SENDGRID_CONTENT_TYPE } from '#test/unit/email/sendgrid-multipart.ts';

/** The only answers a client may get from the parser: a parsed mail or a 4xx domain error. */
const CLIENT_ERRORS = [ValidationError, PayloadTooLargeError, UnsupportedMediaTypeError];
const HANG_MS = 2_000;

async function outcomeOf(body: Buffer, contentType: string, limits: InboundParseLimits = defaultInboundParseLimits): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('hang'), HANG_MS);
  });
  const parse = parseInboundParse(body, contentType, limits).then(
    (email) => {
      // a parse that succeeds still yields a usable mail
      expect(email.fromAddress).toMatch(/^[^A-Z]+@[^A-Z]+$/);
      expect(typeof email.text).toBe('string');
      return 'parsed';
    },
    (err: unknown) => {
      const known = CLIENT_ERRORS.find((type) => err instanceof type);
      return known === undefined ? `unexpected ${String(err)}` : known.name;
    },
  );
  try {
    return await Promise.race([parse, hang]);
  } finally {
    clearTimeout(timer);
  }
}

const valid = buildMultipart({
  fields: sampleEmail({
    html: '<p>Hello <b>there</b></p>',
    'attachment-info': JSON.stringify({ attachment1: { filename: 'a.pdf', type: 'application/pdf' }, attachment2: { filename: 'b.png', type: 'image/png' } }),
  }),
  files: [
    { field: 'attachment1', filename: 'a.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF-1.4 content') },
    { field: 'attachment2', filename: 'b.png', contentType: 'image/png', content: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a]) },
  ],
});
const tinyLimits: InboundParseLimits = { maxBodyBytes: 4096, maxFields: 8, maxFieldBytes: 128, maxFiles: 1, maxFileBytes: 8 };

describe('parseInboundParse under hostile input (property)', () => {
  it('answers random bytes with a 4xx domain error or a parse, never anything else, never hangs', async () => {
    await fc.assert(
      fc.asyncProperty(randomMultipartBody, async (body) => {
        // Act
        const outcome = await outcomeOf(body, SENDGRID_CONTENT_TYPE);

        // Assess
        expect(['parsed', 'ValidationError', 'PayloadTooLargeError']).toContain(outcome);
      }),
      { numRuns: 400 },
    );
  });

  it('answers mutated SendGrid bodies (flipped bytes, truncation, duplicated boundaries) with a parse or a 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(multipartMutation, { minLength: 1, maxLength: 4 }), fc.boolean(), async (mutations, tiny) => {
        // Prepare
        const body = applyMutations(valid.body, mutations);

        // Act
        const outcome = await outcomeOf(body, valid.contentType, tiny ? tinyLimits : defaultInboundParseLimits);

        // Assess
        expect(['parsed', 'ValidationError', 'PayloadTooLargeError']).toContain(outcome);
      }),
      { numRuns: 800 },
    );
  });

  it('answers any content type with a parse or a 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(randomContentType, async (type) => {
        // Act
        const outcome = await outcomeOf(valid.body, type);

        // Assess
        expect(['parsed', 'ValidationError', 'PayloadTooLargeError', 'UnsupportedMediaTypeError']).toContain(outcome);
      }),
      { numRuns: 300 },
    );
  });

  it('answers arbitrary field values (from, headers, charsets, attachment-info, html) with a parse or a 400', async () => {
    await fc.assert(
      fc.asyncProperty(hostileFieldsMail, async ({ body, contentType }) => {
        // Act
        const outcome = await outcomeOf(body, contentType);

        // Assess
        expect(['parsed', 'ValidationError']).toContain(outcome);
      }),
      { numRuns: 300 },
    );
  });
});
