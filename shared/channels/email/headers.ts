/** Threading and identity headers taken from the raw `headers` field SendGrid posts. */
export type EmailHeaders = {
  /** `Message-ID`, as written (angle brackets kept: `<id@host>`). */
  readonly messageId?: string;
  /** The first message id of `In-Reply-To`. */
  readonly inReplyTo?: string;
  /** Every message id of `References`, oldest first. */
  readonly references: readonly string[];
  /** `Date`, as written; part of the dedupe fallback when `Message-ID` is missing. */
  readonly date?: string;
};

/**
 * Every field of a raw RFC 5322 header block, in order, as `[lower-cased name, value]` pairs (repeated
 * fields included). Unfolding per RFC 5322 §2.2.3: a line break followed by white space is removed, the
 * white space kept. CRLF and bare LF line ends are both accepted; lines without a colon are ignored.
 *
 * @example
 * ```ts
 * headerFields('DKIM-Signature: d=a.example\r\nDKIM-Signature: d=b.example'); // [['dkim-signature', 'd=a.example'], ['dkim-signature', 'd=b.example']]
 * ```
 */
export function headerFields(raw: string): Array<[name: string, value: string]> {
  const fields: Array<[string, string]> = [];
  const unfolded = raw.replace(/\r?\n(?=[ \t])/g, '');
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    // field names are printable ASCII without spaces; anything else is not a header line
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) continue;
    fields.push([name, line.slice(colon + 1).trim()]);
  }
  return fields;
}

/**
 * Parses a raw RFC 5322 header block into a map of lower-cased names to values (first occurrence wins),
 * unfolded as {@link headerFields} does.
 *
 * @example
 * ```ts
 * parseHeaderBlock('Subject: hi\r\nReferences: <a@x>\r\n <b@x>').get('references'); // '<a@x> <b@x>'
 * ```
 */
export function parseHeaderBlock(raw: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const [name, value] of headerFields(raw)) {
    if (!headers.has(name)) headers.set(name, value);
  }
  return headers;
}

/**
 * The message ids of a `References` / `In-Reply-To` / `Message-ID` value: every `<…>` in it, or, when
 * a broken mailer wrote none, the white-space separated words.
 *
 * @example
 * ```ts
 * messageIds('<a@x> (comment) <b@x>'); // ['<a@x>', '<b@x>']
 * ```
 */
export function messageIds(value: string): string[] {
  const bracketed = value.match(/<[^<>]+>/g);
  if (bracketed !== null) return bracketed.map((id) => id.replace(/\s+/g, ''));
  return value
    .replace(/\([^)]*\)/g, ' ')
    .split(/\s+/)
    .filter((word) => word !== '');
}

/**
 * The threading fields of a raw header block.
 *
 * @example
 * ```ts
 * threadingHeaders('Message-ID: <m@x>\r\nIn-Reply-To: <p@x>').inReplyTo; // '<p@x>'
 * ```
 */
export function threadingHeaders(raw: string): EmailHeaders {
  const headers = parseHeaderBlock(raw);
  const first = (name: string) => {
    const value = headers.get(name);
    return value === undefined ? undefined : messageIds(value)[0];
  };
  const date = headers.get('date');
  return {
    messageId: first('message-id'),
    inReplyTo: first('in-reply-to'),
    references: messageIds(headers.get('references') ?? ''),
    date: date === '' ? undefined : date,
  };
}
