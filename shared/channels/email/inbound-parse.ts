import type { Busboy } from 'busboy';
import Multipart from 'busboy/lib/types/multipart.js';
import busboyUtils from 'busboy/lib/utils.js';
import { compile } from 'html-to-text';
import { MAX_BODY_BYTES } from '#shared/config.ts';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError, type DomainError } from '#shared/errors.ts';
import { parseAddressList, parseMailbox } from '#shared/channels/email/address.ts';
import { threadingHeaders, type EmailHeaders } from '#shared/channels/email/headers.ts';
import { senderAuthentication } from '#shared/channels/email/sender-authentication.ts';
import type { EmailAuthentication } from '#shared/domain/message.ts';

/**
 * Bounds on one Inbound Parse POST. SendGrid accepts mail up to 30 MB, but a Lambda request payload
 * stops at 6 MB (the body arrives base64-encoded), so the whole body is capped at `MAX_BODY_BYTES` and
 * every part inside it is bounded too.
 */
export type InboundParseLimits = {
  /** Whole body. */
  readonly maxBodyBytes: number;
  /** Non-file parts; SendGrid sends about fifteen. */
  readonly maxFields: number;
  /** One non-file part (`text`, `html` and `headers` are the large ones). */
  readonly maxFieldBytes: number;
  /** File parts (`attachment1..N`). */
  readonly maxFiles: number;
  /** One file part. */
  readonly maxFileBytes: number;
};

/**
 * The limits used in production: 4 MiB body (`MAX_BODY_BYTES`), 64 fields of at most 2 MiB, 32
 * attachments of at most the body cap.
 *
 * @example
 * ```ts
 * await parseInboundParse(body, contentType, { ...defaultInboundParseLimits, maxFiles: 1 });
 * ```
 */
export const defaultInboundParseLimits: InboundParseLimits = {
  maxBodyBytes: MAX_BODY_BYTES,
  maxFields: 64,
  maxFieldBytes: 2 * 1024 * 1024,
  maxFiles: 32,
  maxFileBytes: MAX_BODY_BYTES,
};

/** An attachment as posted, content in memory (bounded by the limits above). */
export type ParsedAttachment = {
  readonly name: string;
  readonly contentType: string;
  readonly size: number;
  readonly content: Buffer;
};

/** What the product keeps of one inbound email. */
export type ParsedInboundEmail = {
  /** Bare sender address, lower-cased. */
  readonly fromAddress: string;
  readonly displayName?: string;
  readonly toAddresses: readonly string[];
  readonly ccAddresses: readonly string[];
  /** `''` when the mail has none. */
  readonly subject: string;
  /** The `text` part, or the `html` part reduced to text when there is no text part. */
  readonly text: string;
  readonly headers: EmailHeaders;
  readonly attachments: readonly ParsedAttachment[];
  /** SendGrid's `SPF` and `dkim` verdicts and whether they vouch for `fromAddress`. */
  readonly authentication: EmailAuthentication;
};

type RawFile = { field: string; filename: string | undefined; mimeType: string; content: Buffer };

/** SendGrid's attachment parts: `attachment1` … `attachmentN`. */
const ATTACHMENT_PART = /^attachment\d+$/;
type RawForm = {
  fields: Map<string, Buffer>;
  files: RawFile[];
  /** The charset a part's own Content-Type declares, by part name (the first part of a name). */
  partCharsets: Map<string, string>;
};

/**
 * Parses a SendGrid Inbound Parse POST (default mode, not raw): `multipart/form-data` with the fields
 * `from`, `to`, `cc`, `subject`, `text`, `html`, `headers`, `charsets`, `attachment-info`, the verdicts
 * `SPF`, `dkim` and `envelope` (read by {@link senderAuthentication}; unreadable ones mean "not verified",
 * never an error) and the files `attachment1..N`. Text fields are decoded with the charset SendGrid names
 * for them in `charsets`, else the one their part's Content-Type declares (utf-8 when neither names one
 * this runtime knows).
 *
 * Throws {@link UnsupportedMediaTypeError} when the body is not multipart/form-data,
 * {@link PayloadTooLargeError} when a limit is hit, and {@link ValidationError} when the multipart is
 * malformed or the mail names no sender address. Nothing else escapes.
 *
 * @example
 * ```ts
 * const email = await parseInboundParse(rawBody(event), header(event, 'content-type') ?? '');
 * email.fromAddress; // 'jane@example.com'
 * ```
 */
export async function parseInboundParse(
  body: Buffer,
  contentType: string,
  limits: InboundParseLimits = defaultInboundParseLimits,
): Promise<ParsedInboundEmail> {
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (mediaType !== 'multipart/form-data') throw new UnsupportedMediaTypeError('Content-Type must be multipart/form-data');
  if (body.length > limits.maxBodyBytes) throw new PayloadTooLargeError(`Body larger than ${limits.maxBodyBytes} bytes`);

  const form = await readMultipart(body, contentType, limits);
  const charsets = jsonRecord(form.fields.get('charsets'));
  const field = (name: string): string | undefined => {
    const bytes = form.fields.get(name);
    if (bytes === undefined) return undefined;
    const charset = charsets?.[name];
    return decodeText(bytes, typeof charset === 'string' ? charset : form.partCharsets.get(name));
  };

  const fromField = field('from');
  if (fromField === undefined) {
    throw new ValidationError(
      form.fields.has('email') ? 'Raw mode is not supported: enable parsed fields on the Inbound Parse setting' : 'Missing from field',
    );
  }
  const sender = parseMailbox(fromField);
  if (sender === undefined) throw new ValidationError('The from field holds no valid email address');

  const headers = field('headers') ?? '';
  const authentication = senderAuthentication(sender.address, { spf: field('SPF'), dkim: field('dkim'), envelope: field('envelope'), headers });

  const html = field('html');
  const textPart = field('text');
  const text = (textPart === undefined || textPart.trim() === '') && html !== undefined ? htmlToText(html) : (textPart ?? '');

  return {
    fromAddress: sender.address,
    ...(sender.displayName === undefined ? {} : { displayName: sender.displayName }),
    toAddresses: parseAddressList(field('to') ?? '').map((m) => m.address),
    ccAddresses: parseAddressList(field('cc') ?? '').map((m) => m.address),
    subject: collapseLineBreaks(field('subject') ?? ''),
    text,
    headers: threadingHeaders(headers),
    attachments: attachmentsOf(form.files, jsonRecord(form.fields.get('attachment-info'))),
    authentication,
  };
}

/**
 * The body up to the end of its close delimiter (`--<boundary>--` at the start of a line): RFC 2046
 * says the epilogue after it is to be ignored. busboy does not ignore it: a delimiter in the epilogue
 * opens a part it then waits on for ever, so a hostile body could hold the request until it times out.
 * `boundary` is the one busboy's own Content-Type parser read, so both agree on it.
 */
function withoutEpilogue(body: Buffer, boundary: string | undefined): Buffer {
  if (!boundary) return body;
  const close = Buffer.from(`--${boundary}--`, 'latin1');
  for (let at = body.indexOf(close); at >= 0; at = body.indexOf(close, at + 1)) {
    if (at === 0 || (body[at - 2] === 0x0d && body[at - 1] === 0x0a)) return body.subarray(0, at + close.length);
  }
  return body;
}

const CRLF = Buffer.from('\r\n', 'latin1');
const HEADERS_END = Buffer.from('\r\n\r\n', 'latin1');
/** busboy's limit on the header block of one part (its MAX_HEADER_SIZE). */
const MAX_PART_HEADER_BYTES = 16 * 1024;
/**
 * A Content-Type header line of a part (with its folded continuation lines): the only header whose
 * `charset` busboy reads.
 */
const CONTENT_TYPE_LINE = /(^|\r\n)(content-type[ \t]*:)((?:[^\r]|\r(?!\n)|\r\n(?=[ \t]))*)/gi;
/** Its `charset` parameter: `;`, optional (folded) whitespace, the name, optional whitespace, `=`. */
const CHARSET_PARAMETER = /(;(?:\r\n)?[ \t]*)charset((?:\r\n)?[ \t]*=)/gi;

/**
 * A copy of the body in which no part's Content-Type declares a charset any more (`charset=` becomes
 * `xharset=`, an unknown parameter of the same length: nothing else moves), and the charset each part's
 * Content-Type declared, by part name (the first part of a name, as busboy keeps it). busboy decodes a
 * part that is not a file with its declared charset, else with the default (latin1, byte for byte); a
 * declared one could not be undone: an inline attachment with a charset (`text/calendar; charset=utf-8`,
 * no filename) came back altered, and with a charset busboy does not decode, empty. Without it every
 * such part comes back as the bytes posted.
 *
 * The parts are found as busboy finds them: a delimiter (`--<boundary>` at the start of a line, sought
 * from where the previous part's content starts) followed by CRLF opens a part's headers, up to the
 * blank line that ends them; a delimiter followed by anything else is not one, and the search goes on.
 */
function withoutPartCharsets(body: Buffer, boundary: string | undefined): { body: Buffer; partCharsets: Map<string, string> } {
  const partCharsets = new Map<string, string>();
  if (!boundary) return { body, partCharsets };
  const delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  const named = new Set<string>();
  let copy: Buffer | undefined;
  // The first delimiter may open the body itself (busboy reads it as if a CRLF came first).
  let at = body.subarray(0, delimiter.length - 2).equals(delimiter.subarray(2)) ? -2 : body.indexOf(delimiter);
  while (at !== -1) {
    const headersStart = at + delimiter.length + 2;
    if (!body.subarray(headersStart - 2, headersStart).equals(CRLF)) {
      at = body.indexOf(delimiter, at + delimiter.length);
      continue;
    }
    // busboy refuses a part whose headers are longer (a malformed body): no need to look further.
    const found = body.subarray(headersStart, headersStart + MAX_PART_HEADER_BYTES + HEADERS_END.length).indexOf(HEADERS_END);
    if (found === -1) break;
    const headersEnd = headersStart + found;
    const headers = body.toString('latin1', headersStart, headersEnd);
    const partHeaders = unfoldedHeaders(headers);
    const disposition = partHeaders.get('content-disposition');
    const type = partHeaders.get('content-type');
    const parsed = disposition === undefined ? undefined : busboyUtils.parseDisposition(disposition, busboyUtils.getDecoder('utf8'));
    // busboy skips a part that is not `form-data` with a name.
    const partName = parsed?.type === 'form-data' ? parsed.params.name : undefined;
    if (partName !== undefined && !named.has(partName)) {
      named.add(partName);
      const charset = type === undefined ? undefined : busboyUtils.parseContentType(type)?.params.charset;
      if (charset !== undefined) partCharsets.set(partName, charset);
    }
    const rewritten = headers.replace(CONTENT_TYPE_LINE, (_line, lead: string, name: string, value: string) => `${lead}${name}${value.replace(CHARSET_PARAMETER, '$1xharset$2')}`);
    if (rewritten !== headers) {
      copy ??= Buffer.from(body);
      copy.write(rewritten, headersStart, 'latin1');
    }
    at = body.indexOf(delimiter, headersEnd + HEADERS_END.length);
  }
  return { body: copy ?? body, partCharsets };
}

/** A part's header lines by lower-cased name, folded lines joined; the first of a name wins, as in busboy. */
function unfoldedHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of block.split(/\r\n(?![ \t])/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).replace(/\r\n[ \t]+/g, ' ').trim());
  }
  return headers;
}

/**
 * Streams the body through busboy's multipart parser, used directly: busboy's entry point would also
 * bundle its urlencoded parser, which this route never needs. It is configured as that entry point
 * configures it. Field values come back as the bytes that were posted (busboy decodes them as latin1,
 * which maps bytes one to one; part headers are rid of their charsets first, see
 * {@link withoutPartCharsets}), because the charset to apply is only known once the `charsets` field,
 * which may come last, has been read.
 */
function readMultipart(body: Buffer, contentType: string, limits: InboundParseLimits): Promise<RawForm> {
  return new Promise<RawForm>((resolve, reject) => {
    const fields = new Map<string, Buffer>();
    const files: RawFile[] = [];
    /** Attachment parts seen so far, files and filename-less ones alike. */
    let attachmentParts = 0;
    let settled = false;
    let parser: Busboy | undefined;
    const fail = (err: DomainError) => {
      if (settled) return;
      settled = true;
      parser?.destroy();
      reject(err);
    };
    const tooLarge = (what: string) => () => fail(new PayloadTooLargeError(`Too many or too large ${what}`));

    const conType = busboyUtils.parseContentType(contentType);
    try {
      if (!conType) throw new Error('Malformed content type');
      parser = new Multipart({
        headers: { 'content-type': contentType },
        conType,
        preservePath: false,
        defCharset: 'latin1',
        defParamCharset: 'utf8',
        limits: {
          fields: limits.maxFields,
          // Attachment parts without a filename come as fields (below): they may be as large as a file;
          // text fields are held to maxFieldBytes by hand.
          fieldSize: Math.max(limits.maxFieldBytes, limits.maxFileBytes),
          files: limits.maxFiles,
          fileSize: limits.maxFileBytes,
        },
      });
    } catch (cause) {
      fail(new ValidationError('Malformed multipart Content-Type (no boundary?)', { cause }));
      return;
    }

    parser.on('field', (name, value: string | undefined, info) => {
      if (info.valueTruncated || info.nameTruncated) return tooLarge(ATTACHMENT_PART.test(name) ? 'attachments' : 'fields')();
      // a part that declares a charset this runtime cannot decode comes back undefined: keep it empty
      const bytes = Buffer.from(value ?? '', 'latin1');
      // `attachmentN` without a filename (an inline image with only a Content-ID): busboy takes a part
      // for a file only with a filename or as application/octet-stream. Its bytes are exact (latin1).
      if (ATTACHMENT_PART.test(name)) {
        if (++attachmentParts > limits.maxFiles || bytes.length > limits.maxFileBytes) return tooLarge('attachments')();
        files.push({ field: name, filename: undefined, mimeType: info.mimeType, content: bytes });
        return;
      }
      if (bytes.length > limits.maxFieldBytes) return tooLarge('fields')();
      if (!fields.has(name)) fields.set(name, bytes);
    });
    parser.on('file', (name, stream, info) => {
      // a file stream fails only when the whole form does; busboy reports that on the parser
      stream.on('error', () => undefined);
      // busboy counts its own files only; the filename-less attachment parts above count too, as parts
      // arrive (a file is only complete at its end).
      if (++attachmentParts > limits.maxFiles) {
        stream.resume();
        return tooLarge('attachments')();
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', tooLarge('attachments'));
      stream.on('end', () => {
        files.push({ field: name, filename: info.filename, mimeType: info.mimeType, content: Buffer.concat(chunks) });
      });
    });
    parser.on('fieldsLimit', tooLarge('fields'));
    parser.on('filesLimit', tooLarge('attachments'));
    parser.on('error', (cause: unknown) => fail(new ValidationError('Malformed multipart body', { cause })));
    const posted = withoutPartCharsets(withoutEpilogue(body, conType?.params.boundary), conType?.params.boundary);
    parser.on('close', () => {
      if (settled) return;
      settled = true;
      resolve({ fields, files, partCharsets: posted.partCharsets });
    });
    parser.end(posted.body);
  });
}

/** Decodes bytes in the named charset; an unknown or missing charset falls back to utf-8 rather than failing. */
function decodeText(bytes: Buffer, charset: string | undefined): string {
  if (charset !== undefined) {
    try {
      return new TextDecoder(charset.trim()).decode(bytes);
    } catch {
      // RangeError: a label the WHATWG encoding list (and so this runtime) does not know
    }
  }
  return new TextDecoder('utf-8').decode(bytes);
}

/** A JSON object field (`charsets`, `attachment-info`), or `undefined` when absent or not a JSON object. */
function jsonRecord(bytes: Buffer | undefined): Record<string, unknown> | undefined {
  if (bytes === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    // SendGrid always sends valid JSON; a broken one only costs us its hints
    return undefined;
  }
}

function attachmentsOf(files: readonly RawFile[], info: Record<string, unknown> | undefined): ParsedAttachment[] {
  return files.map((file) => {
    const meta = info?.[file.field];
    const described = typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>) : {};
    const name = [described.filename, described.name, file.filename, file.field].find(
      (candidate): candidate is string => typeof candidate === 'string' && cleanName(candidate) !== '',
    );
    const type = [described.type, file.mimeType].find((candidate): candidate is string => typeof candidate === 'string' && isMediaType(candidate));
    return {
      name: cleanName(name ?? 'attachment'),
      contentType: type?.trim().toLowerCase() ?? 'application/octet-stream',
      size: file.content.length,
      content: file.content,
    };
  });
}

function isMediaType(value: string): boolean {
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i.test(value.trim());
}

/** A display name for an attachment: no control characters, at most 255 characters. */
function cleanName(name: string): string {
  return name.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 255);
}

function collapseLineBreaks(value: string): string {
  return value.replace(/\r?\n[ \t]*/g, ' ').trim();
}

let htmlConverter: ((html: string) => string) | undefined;

/**
 * Reduces an HTML body to text, with the converter compiled on first use. html-to-text is imported
 * statically: the bundle is one file either way, and a dynamic import would only keep esbuild from
 * tree-shaking it (and its htmlparser2/entities dependencies).
 */
function htmlToText(html: string): string {
  const convert = (htmlConverter ??= compile({
    wordwrap: false,
    selectors: [
      { selector: 'img', format: 'skip' },
      { selector: 'a', options: { hideLinkHrefIfSameAsText: true, ignoreHref: false } },
    ],
  }));
  try {
    return convert(html).trim();
  } catch {
    // html-to-text is lenient; should it ever refuse an input, keep the words rather than lose the mail
    return html
      .replace(/<[^>]*>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim();
  }
}
