import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultInboundParseLimits, parseInboundParse, type InboundParseLimits } from '#shared/channels/email/inbound-parse.ts';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '#shared/errors.ts';
import { buildMultipart, sampleEmail, SENDGRID_BOUNDARY } from '#test/unit/email/sendgrid-multipart.ts';

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
const boundaryLine = Buffer.from(`\r\n--${SENDGRID_BOUNDARY}\r\n`);
const tinyLimits: InboundParseLimits = { maxBodyBytes: 4096, maxFields: 8, maxFieldBytes: 128, maxFiles: 1, maxFileBytes: 8 };

type Mutation = (body: Buffer) => Buffer;
/** A position in the body from a random natural number (uniform, unlike fc.double which favours edges). */
const at = (body: Buffer, n: number) => n % (body.length + 1);
const position = fc.nat({ max: 1_000_000 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(position, fc.integer({ min: 1, max: 255 })).map(
    ([where, mask]): Mutation =>
      (body) => {
        const copy = Buffer.from(body);
        const i = at(copy, where) % copy.length;
        copy[i] = copy[i]! ^ mask;
        return copy;
      },
  ),
  position.map((where): Mutation => (body) => body.subarray(0, at(body, where))),
  position.map(
    (where): Mutation =>
      (body) =>
        Buffer.concat([body.subarray(0, at(body, where)), boundaryLine, body.subarray(at(body, where))]),
  ),
  fc.tuple(position, fc.uint8Array({ maxLength: 64 })).map(
    ([where, bytes]): Mutation =>
      (body) =>
        Buffer.concat([body.subarray(0, at(body, where)), Buffer.from(bytes), body.subarray(at(body, where))]),
  ),
  fc.tuple(position, fc.integer({ min: 1, max: 300 })).map(
    ([where, span]): Mutation =>
      (body) =>
        Buffer.concat([body.subarray(0, at(body, where)), body.subarray(Math.min(body.length, at(body, where) + span))]),
  ),
  position.map(
    (where): Mutation =>
      (body) => {
        // duplicate a slice that holds a boundary and part of a part
        const i = at(body, where);
        return Buffer.concat([body.subarray(0, i), body.subarray(Math.max(0, i - 200), i), body.subarray(i)]);
      },
  ),
  fc.constant<Mutation>((body) => Buffer.from(body.toString('latin1').replaceAll('\r\n', '\n'), 'latin1')),
);

describe('parseInboundParse under hostile input (property)', () => {
  it('answers random bytes with a 4xx domain error or a parse, never anything else, never hangs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), fc.boolean(), async (bytes, framed) => {
        // Prepare: sometimes wrapped in a plausible boundary so the parser gets past the first line
        const body = framed
          ? Buffer.concat([Buffer.from(`--${SENDGRID_BOUNDARY}\r\n`), Buffer.from(bytes), Buffer.from(`\r\n--${SENDGRID_BOUNDARY}--\r\n`)])
          : Buffer.from(bytes);

        // Act
        const outcome = await outcomeOf(body, valid.contentType);

        // Assess
        expect(['parsed', 'ValidationError', 'PayloadTooLargeError']).toContain(outcome);
      }),
      { numRuns: 400 },
    );
  });

  it('answers mutated SendGrid bodies (flipped bytes, truncation, duplicated boundaries) with a parse or a 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), async (mutations, tiny) => {
        // Prepare
        const body = mutations.reduce((acc, mutate) => mutate(acc), valid.body);

        // Act
        const outcome = await outcomeOf(body, valid.contentType, tiny ? tinyLimits : defaultInboundParseLimits);

        // Assess
        expect(['parsed', 'ValidationError', 'PayloadTooLargeError']).toContain(outcome);
      }),
      { numRuns: 800 },
    );
  });

  it('answers any content type with a parse or a 4xx', async () => {
    const contentType = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ maxLength: 40 }).map((s) => `multipart/form-data; ${s}`),
      fc.string({ maxLength: 40 }).map((s) => `multipart/form-data; boundary=${s}`),
      fc.string({ maxLength: 40 }).map((s) => `multipart/form-data; boundary="${s}"; charset=${s}`),
    );
    await fc.assert(
      fc.asyncProperty(contentType, async (type) => {
        // Act
        const outcome = await outcomeOf(valid.body, type);

        // Assess
        expect(['parsed', 'ValidationError', 'PayloadTooLargeError', 'UnsupportedMediaTypeError']).toContain(outcome);
      }),
      { numRuns: 300 },
    );
  });

  it('answers arbitrary field values (from, headers, charsets, attachment-info, html) with a parse or a 400', async () => {
    const text = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)));
    await fc.assert(
      fc.asyncProperty(
        fc.record({ from: text, to: text, headers: text, charsets: text, 'attachment-info': text, html: text, subject: text }, { requiredKeys: [] }),
        async (overrides) => {
          // Prepare
          const fields = sampleEmail(overrides);
          if ('html' in overrides) delete fields.text;
          const { body, contentType } = buildMultipart({
            fields,
            files: [{ field: 'attachment1', filename: 'x.bin', contentType: 'application/octet-stream', content: Buffer.from('x') }],
          });

          // Act
          const outcome = await outcomeOf(body, contentType);

          // Assess
          expect(['parsed', 'ValidationError']).toContain(outcome);
        },
      ),
      { numRuns: 300 },
    );
  });
});
