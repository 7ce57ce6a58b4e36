import { describe, expect, it } from 'vitest';
import { defaultInboundParseLimits, parseInboundParse } from '#shared/channels/email/inbound-parse.ts';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '#shared/errors.ts';
import { buildMultipart, sampleEmail } from '#test/unit/email/sendgrid-multipart.ts';

describe('parseInboundParse', () => {
  it('reads sender, recipients, subject, text and threading headers of a SendGrid post', async () => {
    // Prepare
    const { body, contentType } = buildMultipart({ fields: sampleEmail({ to: 'Support <support@inbound.example.net>, "Ops, Team" <OPS@inbound.example.net>' }) });

    // Act
    const email = await parseInboundParse(body, contentType);

    // Assess
    expect(email).toMatchObject({
      fromAddress: 'jane@example.com',
      displayName: 'Jane Doe',
      toAddresses: ['support@inbound.example.net', 'ops@inbound.example.net'],
      subject: 'Order #42 is late',
      text: 'Hello, my order has not arrived.\n',
      headers: {
        messageId: '<CAF=abc123@mail.example.com>',
        inReplyTo: '<prev-1@support.example.net>',
        references: ['<root-0@support.example.net>', '<prev-1@support.example.net>'],
        date: 'Tue, 3 Jun 2025 05:42:51 +0100',
      },
      attachments: [],
    });
  });

  it('unfolds CRLF-folded headers and splits References written on one line', async () => {
    // Prepare
    const headers = 'Message-ID:\r\n <folded@x.example>\r\nReferences: <a@x.example> <b@x.example>\t<c@x.example>\r\nSubject: hi\r\n';
    const { body, contentType } = buildMultipart({ fields: sampleEmail({ headers }) });

    // Act
    const email = await parseInboundParse(body, contentType);

    // Assess
    expect(email.headers.messageId).toBe('<folded@x.example>');
    expect(email.headers.inReplyTo).toBeUndefined();
    expect(email.headers.references).toEqual(['<a@x.example>', '<b@x.example>', '<c@x.example>']);
  });

  it('reduces the html part to text when the mail has no text part', async () => {
    // Prepare
    const fields = sampleEmail({ html: '<html><body><p>Hello <b>there</b>,</p><p>see <a href="https://x.example/t/1">ticket</a>.</p><img src="cid:logo"></body></html>' });
    delete fields.text;
    const { body, contentType } = buildMultipart({ fields });

    // Act
    const email = await parseInboundParse(body, contentType);

    // Assess
    expect(email.text).toContain('Hello there,');
    expect(email.text).toContain('ticket [https://x.example/t/1]');
    expect(email.text).not.toMatch(/<[a-z]/i);
  });

  it('ignores the epilogue after the close delimiter (RFC 2046), even one holding delimiters and an unclosed part', async () => {
    // Without this, busboy opened the epilogue's parts and waited on the last one for ever (a 30 s hang).
    const hostile = Buffer.from('--xYzZY--\r\n--xYzZY\r\n--xYzZY\r\nContent-Disposition: form-data; name="attachment1"; filename="a.pdf"\r\n\r\nabc');
    await expect(parseInboundParse(hostile, 'multipart/form-data; boundary=xYzZY')).rejects.toBeInstanceOf(ValidationError);
    const { body, contentType } = buildMultipart({ fields: sampleEmail() });
    const epilogue = Buffer.from('\r\n--xYzZY\r\nContent-Disposition: form-data; name="subject"\r\n\r\nforged', 'latin1');
    const parsed = await parseInboundParse(Buffer.concat([body, epilogue]), contentType);
    expect(parsed).toMatchObject({ subject: (await parseInboundParse(body, contentType)).subject, attachments: [] });
  });

  it('prefers the text part when both are present', async () => {
    // Prepare
    const { body, contentType } = buildMultipart({ fields: sampleEmail({ text: 'plain words', html: '<p>html words</p>' }) });

    // Act
    const email = await parseInboundParse(body, contentType);

    // Assess
    expect(email.text).toBe('plain words');
  });

  it('decodes the text part in the charset SendGrid names for it (iso-8859-1)', async () => {
    // Prepare
    // 0x80 is '€' in windows-1252, which WHATWG decoders (and mail clients) use for iso-8859-1
    const latin1Text = Buffer.concat([Buffer.from('Grüße aus Köln, ça va? 5 ', 'latin1'), Buffer.from([0x80])]);
    const { body, contentType } = buildMultipart({
      fields: sampleEmail({
        text: latin1Text,
        subject: 'Grüße',
        charsets: '{"to":"UTF-8","from":"UTF-8","subject":"UTF-8","text":"iso-8859-1"}',
      }),
    });

    // Act
    const email = await parseInboundParse(body, contentType);

    // Assess
    expect(email.text).toBe('Grüße aus Köln, ça va? 5 €');
    expect(email.subject).toBe('Grüße');
  });

  it('decodes a windows-1252 html part, and falls back to utf-8 for a charset it does not know', async () => {
    // Prepare
    const html = Buffer.from([0x3c, 0x70, 0x3e, 0x93, 0x71, 0x75, 0x6f, 0x74, 0x65, 0x64, 0x94, 0x3c, 0x2f, 0x70, 0x3e]); // <p>“quoted”</p> in cp1252
    const fields = sampleEmail({ html, subject: 'Ünïcode', charsets: '{"subject":"x-no-such-charset","html":"windows-1252"}' });
    delete fields.text;
    const { body, contentType } = buildMultipart({ fields });

    // Act
    const email = await parseInboundParse(body, contentType);

    // Assess
    expect(email.text).toBe('“quoted”');
    expect(email.subject).toBe('Ünïcode');
  });

  it('keeps attachments with the names and types attachment-info gives', async () => {
    // Prepare
    const pdf = Buffer.from('%PDF-1.4 fake pdf bytes \x00\x01\x02', 'latin1');
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]);
    const { body, contentType } = buildMultipart({
      fields: sampleEmail({
        attachments: '2',
        'attachment-info': JSON.stringify({
          attachment1: { filename: 'Invoice März.pdf', name: 'Invoice März.pdf', type: 'application/pdf' },
          attachment2: { filename: 'logo.png', name: 'logo.png', type: 'image/png', 'content-id': 'ii_logo' },
        }),
      }),
      files: [
        { field: 'attachment1', filename: 'Invoice_M_rz.pdf', contentType: 'application/octet-stream', content: pdf },
        { field: 'attachment2', filename: 'logo.png', contentType: 'image/png', content: png },
      ],
    });

    // Act
    const email = await parseInboundParse(body, contentType);

    // Assess
    expect(email.attachments).toEqual([
      { name: 'Invoice März.pdf', contentType: 'application/pdf', size: pdf.length, content: pdf },
      { name: 'logo.png', contentType: 'image/png', size: png.length, content: png },
    ]);
  });

  it('falls back to the part filename and type when attachment-info is missing', async () => {
    // Prepare
    const { body, contentType } = buildMultipart({
      fields: sampleEmail({ attachments: '1' }),
      files: [{ field: 'attachment1', filename: 'notes.txt', contentType: 'text/plain', content: Buffer.from('notes') }],
    });

    // Act
    const email = await parseInboundParse(body, contentType);

    // Assess
    expect(email.attachments).toEqual([{ name: 'notes.txt', contentType: 'text/plain', size: 5, content: Buffer.from('notes') }]);
  });

  it('parses a body built by an independent encoder (undici FormData)', async () => {
    // Prepare
    const form = new FormData();
    form.set('from', 'bob@example.org (Bob Builder)');
    form.set('to', 'support@inbound.example.net');
    form.set('subject', 'Can we fix it?');
    form.set('text', 'Yes we can ✓');
    form.set('attachment1', new Blob([Buffer.from('hello')], { type: 'text/plain' }), 'hello.txt');
    const response = new Response(form);
    const body = Buffer.from(await response.arrayBuffer());

    // Act
    const email = await parseInboundParse(body, response.headers.get('content-type') ?? '');

    // Assess
    expect(email).toMatchObject({ fromAddress: 'bob@example.org', displayName: 'Bob Builder', subject: 'Can we fix it?', text: 'Yes we can ✓' });
    expect(email.attachments).toEqual([{ name: 'hello.txt', contentType: 'text/plain', size: 5, content: Buffer.from('hello') }]);
  });

  it.each([
    ['"Jane Doe" <Jane@Example.com>', 'jane@example.com', 'Jane Doe'],
    ['Jane Doe <JANE@EXAMPLE.COM>', 'jane@example.com', 'Jane Doe'],
    ['"Doe, Jane (Support)" <jane@example.com>', 'jane@example.com', 'Doe, Jane (Support)'],
    ['"Jane \\"JD\\" Doe" <jane@example.com>', 'jane@example.com', 'Jane "JD" Doe'],
    ['jane@example.com', 'jane@example.com', undefined],
    ['<jane@example.com>', 'jane@example.com', undefined],
    ['jane@example.com (Jane Doe)', 'jane@example.com', 'Jane Doe'],
    ['Jörg Müller <joerg@exämple.de>', 'joerg@exämple.de', 'Jörg Müller'],
    ['"weird>name" <first.last+tag@sub.example.co.uk>', 'first.last+tag@sub.example.co.uk', 'weird>name'],
  ])('reads the sender %s', async (from, address, displayName) => {
    // Prepare
    const { body, contentType } = buildMultipart({ fields: sampleEmail({ from }) });

    // Act
    const email = await parseInboundParse(body, contentType);

    // Assess
    expect(email.fromAddress).toBe(address);
    expect(email.displayName).toBe(displayName);
  });

  it.each([['Jane Doe'], [''], ['<not an address>'], ['jane@'], ['@example.com'], ['"unterminated <jane@example.com>']])(
    'refuses a from field without an address (%s) with 400',
    async (from) => {
      // Prepare
      const { body, contentType } = buildMultipart({ fields: sampleEmail({ from }) });

      // Act
      const parsing = parseInboundParse(body, contentType);

      // Assess
      await expect(parsing).rejects.toBeInstanceOf(ValidationError);
    },
  );

  it('refuses a post without a from field with 400, naming raw mode when that is what it got', async () => {
    // Prepare
    const plain = buildMultipart({ fields: { to: 'support@inbound.example.net', text: 'hi' } });
    const raw = buildMultipart({ fields: { to: 'support@inbound.example.net', email: 'From: a@b.example\r\n\r\nhi' } });

    // Act + Assess (one at a time: a second refusal pending while the first is awaited would be unhandled)
    await expect(parseInboundParse(plain.body, plain.contentType)).rejects.toThrow(new ValidationError('Missing from field'));
    await expect(parseInboundParse(raw.body, raw.contentType)).rejects.toThrow(/Raw mode is not supported/);
  });

  it('refuses a body over the size cap with 413 before parsing it', async () => {
    // Prepare
    const { body, contentType } = buildMultipart({ fields: sampleEmail() });
    const limits = { ...defaultInboundParseLimits, maxBodyBytes: body.length - 1 };

    // Act
    const parsing = parseInboundParse(body, contentType, limits);

    // Assess
    await expect(parsing).rejects.toBeInstanceOf(PayloadTooLargeError);
  });

  it.each([
    ['an oversized field', { maxFieldBytes: 16 }],
    ['too many fields', { maxFields: 3 }],
    ['an oversized attachment', { maxFileBytes: 4 }],
    ['too many attachments', { maxFiles: 1 }],
  ])('refuses %s with 413', async (_label, override) => {
    // Prepare
    const { body, contentType } = buildMultipart({
      fields: sampleEmail(),
      files: [
        { field: 'attachment1', filename: 'a.txt', contentType: 'text/plain', content: Buffer.from('aaaaaaaa') },
        { field: 'attachment2', filename: 'b.txt', contentType: 'text/plain', content: Buffer.from('bb') },
      ],
    });

    // Act
    const parsing = parseInboundParse(body, contentType, { ...defaultInboundParseLimits, ...override });

    // Assess
    await expect(parsing).rejects.toBeInstanceOf(PayloadTooLargeError);
  });

  it.each([
    ['utf-8, with bytes that are not utf-8', 'image/png; charset=utf-8', Buffer.from('89504e47ff00fec3', 'hex')],
    ['utf-8 text', 'text/calendar; charset="UTF-8"', Buffer.from('BEGIN:VCALENDAR\r\nSUMMARY:Rückruf – 10:00\r\nEND:VCALENDAR', 'utf8')],
    ['one busboy does not decode', 'text/plain; charset=koi8-r', Buffer.from('f0d2c9d7c5d4', 'hex')],
    ['utf-16 with an odd byte count', 'text/plain;charset=utf-16le', Buffer.from('480069000a', 'hex')],
  ])('keeps the bytes of a filename-less attachment part whose Content-Type declares a charset (%s)', async (_case, contentType, content) => {
    // Prepare: an inline part with only a Content-ID, its own charset in its part header
    const { body, contentType: formType } = buildMultipart({
      fields: sampleEmail({ attachments: '1', 'attachment-info': JSON.stringify({ attachment1: { 'content-id': 'ii_1' } }) }),
      files: [{ field: 'attachment1', filename: undefined, contentType, content }],
    });

    // Act
    const email = await parseInboundParse(body, formType);

    // Assess: the part as posted, byte for byte
    expect(email.attachments).toHaveLength(1);
    expect(email.attachments[0]?.content.toString('hex')).toBe(content.toString('hex'));
    expect(email.attachments[0]?.size).toBe(content.length);
  });

  describe('finds the parts as busboy does, so that only their Content-Type headers are changed', () => {
    const boundary = 'xYzZY';
    /** The sample email's fields as parts, then `tail` (raw), then the close delimiter. */
    const withTail = (tail: string | Buffer) =>
      Buffer.concat([
        ...Object.entries(sampleEmail({ attachments: '1' })).map(([name, value]) =>
          Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n`), Buffer.from(value), Buffer.from('\r\n')]),
        ),
        typeof tail === 'string' ? Buffer.from(tail, 'latin1') : tail,
        Buffer.from(`--${boundary}--\r\n`),
      ]);
    const parse = (body: Buffer) => parseInboundParse(body, `multipart/form-data; boundary=${boundary}`);
    const calendar = Buffer.from('SUMMARY:Rückruf', 'utf8').toString('latin1');

    it('a folded Content-Type (charset on its continuation line)', async () => {
      const email = await parse(withTail(`--${boundary}\r\nContent-Disposition: form-data; name="attachment1"\r\nContent-Type: text/calendar;\r\n charset=utf-8\r\n\r\n${calendar}\r\n`));
      expect(email.attachments[0]?.content.toString('latin1')).toBe(calendar);
    });

    it('a part after a line that only looks like a delimiter (`--<boundary>` followed by more)', async () => {
      const email = await parse(
        withTail(
          `--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nsee below\r\n--${boundary}x not a delimiter\r\n` +
            `--${boundary}\r\nContent-Disposition: form-data; name="attachment1"\r\nContent-Type: text/calendar; charset=utf-8\r\n\r\n${calendar}\r\n`,
        ),
      );
      expect(email.attachments[0]?.content.toString('latin1')).toBe(calendar);
    });

    it('content that starts with what looks like a delimiter and headers is not taken for headers', async () => {
      const content = `--${boundary}\r\nfoo; charset=x\r\n\r\nbar`;
      const email = await parse(withTail(`--${boundary}\r\nContent-Disposition: form-data; name="attachment1"\r\nContent-Type: image/png\r\n\r\n${content}\r\n`));
      // busboy itself reads the delimiter-like start as the end of the headers: the rest is the content
      expect(email.attachments[0]?.content.toString('latin1')).toBe('foo; charset=x\r\n\r\nbar');
    });

    it('a filename that says `; charset=` is left as it is', async () => {
      const email = await parse(
        withTail(`--${boundary}\r\nContent-Disposition: form-data; name="attachment1"; filename="inv; charset=x.pdf"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n`),
      );
      expect(email.attachments[0]?.name).toBe('inv; charset=x.pdf');
    });
  });

  it('decodes a text field with the charset its own part header declares when charsets names none, and with charsets when it does', async () => {
    // Prepare: `text` in latin1 declared on its part; `subject` in latin1 declared on its part but named utf-8 by charsets
    const boundary = 'xYzZY';
    const part = (name: string, type: string, value: Buffer) =>
      Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\nContent-Type: ${type}\r\n\r\n`, 'latin1'), value, Buffer.from('\r\n')]);
    const plain = Object.entries(sampleEmail({ charsets: JSON.stringify({ subject: 'utf-8' }) }))
      .filter(([name]) => name !== 'text' && name !== 'subject')
      .map(([name, value]) =>
      Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n`), Buffer.from(value), Buffer.from('\r\n')]),
    );
    const body = Buffer.concat([
      ...plain,
      part('text', 'text/plain; charset=iso-8859-1', Buffer.from('Grüße, José', 'latin1')),
      part('subject', 'text/plain; Charset=ISO-8859-1', Buffer.from('Zahlung für März', 'utf8')),
      Buffer.from(`--${boundary}--\r\n`),
    ]);

    // Act
    const email = await parseInboundParse(body, `multipart/form-data; boundary=${boundary}`);

    // Assess
    expect(email.text).toBe('Grüße, José');
    expect(email.subject).toBe('Zahlung für März');
  });

  it('keeps an attachment part that has no filename (an inline image with only a Content-ID), small or over the text-field cap', async () => {
    // Prepare: two images SendGrid posts without a filename, one past the 2 MiB a text field may take
    const small = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const large = Buffer.concat([small, Buffer.alloc(3 * 1024 * 1024, 0xff)]);
    const { body, contentType } = buildMultipart({
      fields: sampleEmail({ attachments: '2', 'attachment-info': JSON.stringify({ attachment1: { type: 'image/png', 'content-id': 'ii_1' }, attachment2: { type: 'image/png' } }) }),
      files: [
        { field: 'attachment1', filename: undefined, contentType: 'image/png', content: small },
        { field: 'attachment2', filename: undefined, contentType: 'image/png', content: large },
      ],
    });

    // Act
    const email = await parseInboundParse(body, contentType);

    // Assess: both kept, bytes exact, named after their part
    expect(email.attachments.map((a) => ({ name: a.name, contentType: a.contentType, size: a.size }))).toEqual([
      { name: 'attachment1', contentType: 'image/png', size: small.length },
      { name: 'attachment2', contentType: 'image/png', size: large.length },
    ]);
    expect(email.attachments[0]?.content.equals(small)).toBe(true);
    expect(email.attachments[1]?.content.equals(large)).toBe(true);
  });

  it.each([
    ['files first', true],
    ['filename-less parts first', false],
  ])('counts files and filename-less attachment parts together against the attachment limit (%s), refusing with 413 and no crash', async (_order, filesFirst) => {
    const withName = Array.from({ length: 3 }, (_, i) => ({ field: `attachment${i + 1}`, filename: `f${i}.png`, contentType: 'image/png', content: Buffer.from(`file ${i}`) }));
    const without = Array.from({ length: 3 }, (_, i) => ({ field: `attachment${i + 4}`, filename: undefined, contentType: 'image/png', content: Buffer.from(`inline ${i}`) }));
    const { body, contentType } = buildMultipart({ fields: sampleEmail(), files: filesFirst ? [...withName, ...without] : [...without, ...withName] });
    const limits = { ...defaultInboundParseLimits, maxFiles: 4 };
    await expect(parseInboundParse(body, contentType, limits)).rejects.toBeInstanceOf(PayloadTooLargeError);
    // At the limit it parses all six.
    expect((await parseInboundParse(body, contentType, { ...defaultInboundParseLimits, maxFiles: 6 })).attachments).toHaveLength(6);
  });

  it('holds filename-less attachment parts to the attachment limits, and text fields to theirs', async () => {
    const part = (field: string, content: Buffer) => ({ field, filename: undefined, contentType: 'image/png', content });
    const twoImages = buildMultipart({ fields: sampleEmail(), files: [part('attachment1', Buffer.from('aa')), part('attachment2', Buffer.from('bb'))] });
    await expect(parseInboundParse(twoImages.body, twoImages.contentType, { ...defaultInboundParseLimits, maxFiles: 1 })).rejects.toBeInstanceOf(PayloadTooLargeError);
    await expect(parseInboundParse(twoImages.body, twoImages.contentType, { ...defaultInboundParseLimits, maxFileBytes: 1 })).rejects.toBeInstanceOf(PayloadTooLargeError);
    const longText = buildMultipart({ fields: sampleEmail({ text: 'x'.repeat(64) }) });
    await expect(parseInboundParse(longText.body, longText.contentType, { ...defaultInboundParseLimits, maxFieldBytes: 32, maxFileBytes: 1024 })).rejects.toBeInstanceOf(PayloadTooLargeError);
  });

  it('accepts a body at the default caps that SendGrid could send: a 3 MB attachment', async () => {
    // Prepare
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const { body, contentType } = buildMultipart({
      fields: sampleEmail(),
      files: [{ field: 'attachment1', filename: 'scan.tiff', contentType: 'image/tiff', content: big }],
    });

    // Act
    const email = await parseInboundParse(body, contentType);

    // Assess
    expect(email.attachments[0]?.size).toBe(big.length);
    expect(email.attachments[0]?.content.equals(big)).toBe(true);
  });

  it('refuses a truncated multipart body with 400', async () => {
    // Prepare
    const { body, contentType } = buildMultipart({ fields: sampleEmail() });
    const truncated = body.subarray(0, Math.floor(body.length / 2));

    // Act
    const parsing = parseInboundParse(truncated, contentType);

    // Assess
    await expect(parsing).rejects.toBeInstanceOf(ValidationError);
  });

  it('refuses a multipart content type without a boundary with 400', async () => {
    // Prepare
    const { body } = buildMultipart({ fields: sampleEmail() });

    // Act
    const parsing = parseInboundParse(body, 'multipart/form-data');

    // Assess
    await expect(parsing).rejects.toBeInstanceOf(ValidationError);
  });

  it('refuses a body whose boundary is not the declared one with 400', async () => {
    // Prepare
    const { body } = buildMultipart({ fields: sampleEmail() });

    // Act
    const parsing = parseInboundParse(body, 'multipart/form-data; boundary=somethingElse');

    // Assess
    await expect(parsing).rejects.toBeInstanceOf(ValidationError);
  });

  it.each([['application/json'], ['application/x-www-form-urlencoded'], ['text/plain'], ['']])('refuses content type "%s" with 415', async (type) => {
    // Prepare
    const { body } = buildMultipart({ fields: sampleEmail() });

    // Act
    const parsing = parseInboundParse(body, type);

    // Assess
    await expect(parsing).rejects.toBeInstanceOf(UnsupportedMediaTypeError);
  });
});
