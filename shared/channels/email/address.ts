/**
 * A small RFC 5322 mailbox parser for the `from` and `to` fields SendGrid posts (already decoded from
 * MIME encoded-words by SendGrid). No maintained address parser is a dependency of this project, and the
 * fields need only this much: quoted display names, comments, angle addresses, address lists and groups.
 */

import { isEmailAddress } from '#shared/domain/identity.ts';

/** One parsed mailbox: the bare address, lower-cased, and the display name when there is one. */
export type Mailbox = { readonly address: string; readonly displayName?: string };

type Token =
  | { kind: 'text'; value: string }
  | { kind: 'quoted'; value: string }
  | { kind: 'comment'; value: string }
  | { kind: 'angle'; value: string }
  | { kind: 'special'; value: ',' | ':' | ';' };

/**
 * Splits a header value into quoted strings, comments (nested), angle addresses and list separators.
 * Unterminated constructs run to the end of the input rather than failing: the caller then finds no
 * valid address and refuses the message.
 */
function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let text = '';
  const flushText = () => {
    if (text !== '') tokens.push({ kind: 'text', value: text });
    text = '';
  };
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c === '"') {
      flushText();
      let value = '';
      for (i++; i < input.length && input[i] !== '"'; i++) {
        if (input[i] === '\\' && i + 1 < input.length) i++;
        value += input[i];
      }
      tokens.push({ kind: 'quoted', value });
    } else if (c === '(') {
      flushText();
      let depth = 1;
      let value = '';
      for (i++; i < input.length; i++) {
        const d = input[i]!;
        if (d === '\\' && i + 1 < input.length) {
          value += input[++i];
          continue;
        }
        if (d === '(') depth++;
        if (d === ')' && --depth === 0) break;
        value += d;
      }
      tokens.push({ kind: 'comment', value });
    } else if (c === '<') {
      flushText();
      let value = '';
      for (i++; i < input.length && input[i] !== '>'; i++) {
        if (input[i] === '"') {
          // a quoted local part may hold '>'
          value += '"';
          for (i++; i < input.length && input[i] !== '"'; i++) {
            if (input[i] === '\\' && i + 1 < input.length) value += input[i++];
            value += input[i];
          }
          value += '"';
          continue;
        }
        value += input[i];
      }
      tokens.push({ kind: 'angle', value });
    } else if (c === ',' || c === ':' || c === ';') {
      flushText();
      tokens.push({ kind: 'special', value: c });
    } else {
      text += c;
    }
  }
  flushText();
  return tokens;
}

function normalizeAddress(raw: string): string | undefined {
  // An obsolete source route (`<@a.example:jane@b.example>`) keeps only the address after the colon.
  const withoutRoute = raw.startsWith('@') && raw.includes(':') ? raw.slice(raw.indexOf(':') + 1) : raw;
  const address = withoutSpaceOutsideQuotes(withoutRoute);
  return isEmailAddress(address) ? address.toLowerCase() : undefined;
}

/** Folding white space may sit around the dots and the `@` of an address, but not inside a quoted local part. */
function withoutSpaceOutsideQuotes(raw: string): string {
  let out = '';
  let quoted = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (quoted && c === '\\' && i + 1 < raw.length) {
      out += c + raw[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (!quoted && /\s/.test(c)) continue;
    out += c;
  }
  return out;
}

function collapse(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** Turns the tokens of one list member into a mailbox, or `undefined` when it holds no valid address. */
function mailboxOf(tokens: readonly Token[]): Mailbox | undefined {
  const angle = tokens.find((t) => t.kind === 'angle');
  if (angle !== undefined) {
    const address = normalizeAddress(angle.value);
    if (address === undefined) return undefined;
    const before = tokens.slice(0, tokens.indexOf(angle)).filter((t) => t.kind === 'text' || t.kind === 'quoted');
    const displayName = collapse(before.map((t) => t.value).join(' '));
    return displayName === '' ? { address } : { address, displayName };
  }
  // addr-spec alone, perhaps with a comment naming the person: `jane@example.com (Jane Doe)`
  const spec = tokens
    .filter((t) => t.kind === 'text' || t.kind === 'quoted')
    .map((t) => (t.kind === 'quoted' ? `"${t.value}"` : t.value))
    .join('');
  const address = normalizeAddress(spec);
  if (address === undefined) return undefined;
  const comment = collapse(tokens.find((t) => t.kind === 'comment')?.value ?? '');
  return comment === '' ? { address } : { address, displayName: comment };
}

/**
 * Every mailbox of an address list, in order; members that hold no valid address are skipped, group
 * names (`Team: a@x, b@y;`) are dropped and their members kept.
 *
 * @example
 * ```ts
 * parseAddressList('"Doe, Jane" <Jane@Example.com>, bob@example.org');
 * // [{ address: 'jane@example.com', displayName: 'Doe, Jane' }, { address: 'bob@example.org' }]
 * ```
 */
export function parseAddressList(input: string): Mailbox[] {
  const mailboxes: Mailbox[] = [];
  let member: Token[] = [];
  const flush = () => {
    const mailbox = mailboxOf(member);
    if (mailbox !== undefined) mailboxes.push(mailbox);
    member = [];
  };
  for (const token of tokenize(input)) {
    if (token.kind === 'special') {
      // ':' ends a group's display name, which names no mailbox
      if (token.value === ':') member = [];
      else flush();
      continue;
    }
    member.push(token);
  }
  flush();
  return mailboxes;
}

/**
 * The first mailbox of a `From` value, or `undefined` when it names no valid address.
 *
 * @example
 * ```ts
 * parseMailbox('"Jane Doe" <Jane@Example.com>'); // { address: 'jane@example.com', displayName: 'Jane Doe' }
 * ```
 */
export function parseMailbox(input: string): Mailbox | undefined {
  return parseAddressList(input)[0];
}
