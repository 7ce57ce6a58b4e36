import fc from 'fast-check';
import { bodyMutation, type Mutation } from '#test/helpers/hostile.ts';

/**
 * Builds multipart bodies the way SendGrid Inbound Parse posts them (default mode): boundary `xYzZY`,
 * text parts with a Content-Disposition only and their bytes as the mail carried them (so a latin1
 * `text` stays latin1, `charsets` says so), attachments as file parts `attachment1..N`.
 */
/** `filename` undefined: a part without one (SendGrid sends such for inline images with only a Content-ID). */
export type FilePart = { field: string; filename: string | undefined; contentType: string; content: Buffer };

export type InboundParseFixture = {
  fields?: Record<string, string | Buffer>;
  files?: FilePart[];
  boundary?: string;
};

export const SENDGRID_BOUNDARY = 'xYzZY';

export function buildMultipart({ fields = {}, files = [], boundary = SENDGRID_BOUNDARY }: InboundParseFixture): {
  body: Buffer;
  contentType: string;
} {
  const chunks: Buffer[] = [];
  const push = (s: string | Buffer) => chunks.push(typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
  for (const [name, value] of Object.entries(fields)) {
    push(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n`);
    push(value);
    push('\r\n');
  }
  for (const file of files) {
    push(`--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"${file.filename === undefined ? '' : `; filename="${file.filename}"`}\r\n`);
    push(`Content-Type: ${file.contentType}\r\n\r\n`);
    push(file.content);
    push('\r\n');
  }
  push(`--${boundary}--\r\n`);
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** A realistic mail: headers block as SendGrid forwards it (folded lines included). */
export function sampleEmail(overrides: Record<string, string | Buffer> = {}): Record<string, string | Buffer> {
  return {
    headers: [
      'Received: by mx0047p1mdw1.sendgrid.net with SMTP id 6WCVv7KAWn Wed, 27 Jul 2016 20:53:06 +0000 (UTC)',
      'DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;',
      '        d=example.com; s=20230601;',
      'Date: Tue, 3 Jun 2025 05:42:51 +0100',
      'From: "Jane Doe" <Jane@Example.com>',
      'Message-ID: <CAF=abc123@mail.example.com>',
      'In-Reply-To: <prev-1@support.example.net>',
      'References: <root-0@support.example.net>',
      ' <prev-1@support.example.net>',
      'Subject: Order #42 is late',
      'To: support@inbound.example.net',
      '',
    ].join('\n'),
    dkim: '{@example.com : pass}',
    to: 'support@inbound.example.net',
    from: '"Jane Doe" <Jane@Example.com>',
    subject: 'Order #42 is late',
    text: 'Hello, my order has not arrived.\n',
    sender_ip: '209.85.128.42',
    envelope: '{"to":["support@inbound.example.net"],"from":"jane@example.com"}',
    attachments: '0',
    charsets: '{"to":"UTF-8","from":"UTF-8","subject":"UTF-8","text":"utf-8"}',
    SPF: 'pass',
    ...overrides,
  };
}

/** The content type of a body built with the default boundary. */
export const SENDGRID_CONTENT_TYPE = `multipart/form-data; boundary=${SENDGRID_BOUNDARY}`;

/**
 * Mutations of a SendGrid body (see `bodyMutation`): flipped bytes, truncation, an extra boundary line,
 * random bytes, a dropped span, a repeated slice holding a boundary and part of a part, CRLFs turned LF.
 */
export const multipartMutation: fc.Arbitrary<Mutation> = bodyMutation({
  markers: [Buffer.from(`\r\n--${SENDGRID_BOUNDARY}\r\n`)],
  rewrites: [(body) => Buffer.from(body.toString('latin1').replaceAll('\r\n', '\n'), 'latin1')],
});

/** Random bytes, sometimes framed by the default boundary so the parser gets past the first line (send with {@link SENDGRID_CONTENT_TYPE}). */
export const randomMultipartBody: fc.Arbitrary<Buffer> = fc
  .tuple(fc.uint8Array({ maxLength: 2048 }), fc.boolean())
  .map(([bytes, framed]) =>
    framed ? Buffer.concat([Buffer.from(`--${SENDGRID_BOUNDARY}\r\n`), Buffer.from(bytes), Buffer.from(`\r\n--${SENDGRID_BOUNDARY}--\r\n`)]) : Buffer.from(bytes),
  );

/** Any content type, multipart ones with random parameters and boundaries included. */
export const randomContentType: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ maxLength: 40 }).map((s) => `multipart/form-data; ${s}`),
  fc.string({ maxLength: 40 }).map((s) => `multipart/form-data; boundary=${s}`),
  fc.string({ maxLength: 40 }).map((s) => `multipart/form-data; boundary="${s}"; charset=${s}`),
);

const anyText = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)));

/** A `dkim` field: the documented forms around random domains and results, or anything at all. */
const dkimText = fc.oneof(
  fc.array(fc.tuple(fc.domain(), fc.constantFrom('pass', 'fail', 'neutral', 'none', 'PASS')), { maxLength: 4 }).map((sigs) => `{${sigs.map(([d, r]) => `@${d} : ${r}`).join(', ')}}`),
  fc.constantFrom('none', '{@example.com : pass', '{@example.com : pass}}', '{@ : pass}'),
  anyText,
);

/**
 * A mail whose fields (from, to, headers, charsets, attachment-info, html, subject, SPF, dkim, envelope)
 * may be anything, with one small attachment; without its `text` part when `html` is given.
 */
export const hostileFieldsMail: fc.Arbitrary<{ body: Buffer; contentType: string }> = fc
  .record(
    { from: anyText, to: anyText, headers: anyText, charsets: anyText, 'attachment-info': anyText, html: anyText, subject: anyText, SPF: anyText, dkim: dkimText, envelope: anyText },
    { requiredKeys: [] },
  )
  .map((overrides) => {
    const fields = sampleEmail(overrides);
    if ('html' in overrides) delete fields.text;
    return buildMultipart({
      fields,
      files: [{ field: 'attachment1', filename: 'x.bin', contentType: 'application/octet-stream', content: Buffer.from('x') }],
    });
  });
