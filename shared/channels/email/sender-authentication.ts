/**
 * Whether an inbound email's `From` address is vouched for by its domain, from the verdicts SendGrid
 * Inbound Parse posts (default mode): `SPF` (`pass`, `fail`, `softfail`, `neutral`, `none`, …), `dkim`
 * (`{@example.com : pass}`, `{@a.com : pass, @b.com : fail}` or `none`) and `envelope`
 * (`{"to":[…],"from":"<return path>"}`). Basic auth only proves SendGrid posted the mail; these say
 * whether the domain in `From` sent it. Pure: nothing here throws, whatever the fields hold.
 */
import { headerFields } from '#shared/channels/email/headers.ts';
import type { EmailAuthentication, DkimVerdict } from '#shared/domain/message.ts';

/** The raw fields the verdict is read from, as posted (any of them may be missing or garbage). */
export type SenderAuthenticationFields = {
  readonly spf?: string;
  readonly dkim?: string;
  readonly envelope?: string;
  /** The raw `headers` field, for the `DKIM-Signature` headers the `dkim` verdicts belong to. */
  readonly headers?: string;
};

/** SPF results (RFC 7208 §2.6) kept as posted; anything else is recorded as absent. */
const SPF_RESULTS = new Set(['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror']);
/** Longest field worth reading; SendGrid's verdicts are a few dozen bytes. */
const MAX_VERDICT_CHARS = 4096;
/** Most verdicts read; a field with more is not one a real mailer caused, and is treated as malformed. */
const MAX_SIGNATURES = 20;
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOSTNAME_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})+$`);
/** One `@domain : result` entry, optionally with a parenthesised detail (`fail (body hash mismatch)`). */
const DKIM_ENTRY = String.raw`@([^\s:,{}()@]+)\s*:\s*([a-z]+)(?:\s*\([^()]*\))?`;
const DKIM_ENTRY_RE = new RegExp(DKIM_ENTRY, 'gi');
const DKIM_FIELD_RE = new RegExp(String.raw`^\{\s*${DKIM_ENTRY}(?:\s*,\s*${DKIM_ENTRY})*\s*\}$`, 'i');

/**
 * The authentication record of an inbound email from `From`'s address and the posted verdicts.
 *
 * Decision: the sender is verified when a DKIM signature that passed was made by `From`'s domain or a
 * parent of it (`d=example.com` vouches for `jane@mail.example.com`; a subdomain or another domain does
 * not), or else when SPF passed for an envelope sender (return path) whose domain aligns the same way
 * (SPF checks the envelope, which anyone may set apart from `From`). A parent needs two labels at least,
 * so a bare TLD never aligns; without a public suffix list (no dependency for it) `co.uk` would align,
 * which is harmless since only the registry can publish keys or SPF records there.
 *
 * A `dkim` pass only counts for a domain when `headers` holds at least as many `DKIM-Signature` (or
 * `DomainKey-Signature`) headers with exactly that `d=` as the field lists verdicts for it: the field's
 * format is not escaped, so a forged signature with `d=victim.example : pass, @attacker.example` must not
 * read as a pass for `victim.example`. A field that does not parse, an unknown SPF result, broken JSON in
 * `envelope`: all simply not verified.
 *
 * @example
 * ```ts
 * senderAuthentication('jane@example.com', { spf: 'fail', dkim: '{@example.com : pass}', headers: 'DKIM-Signature: d=example.com; s=s1' });
 * // { spf: 'fail', dkim: [{ domain: 'example.com', result: 'pass' }], senderVerified: true }
 * ```
 */
export function senderAuthentication(fromAddress: string, fields: SenderAuthenticationFields): EmailAuthentication {
  const spf = spfResult(fields.spf);
  const dkim = dkimVerdicts(fields.dkim);
  const fromDomain = domainOf(fromAddress);
  const verified =
    fromDomain !== undefined &&
    (dkimAligned(dkim, fromDomain, signingDomains(fields.headers)) || (spf === 'pass' && alignsWith(envelopeSenderDomain(fields.envelope), fromDomain)));
  return { ...(spf === undefined ? {} : { spf }), dkim, senderVerified: verified };
}

function spfResult(raw: string | undefined): string | undefined {
  const value = raw?.trim().toLowerCase();
  return value !== undefined && SPF_RESULTS.has(value) ? value : undefined;
}

/** The verdicts of a `dkim` field; `[]` for `none`, absent, or anything that is not the documented form. */
export function dkimVerdicts(raw: string | undefined): DkimVerdict[] {
  const value = raw?.trim() ?? '';
  if (value.length > MAX_VERDICT_CHARS || !DKIM_FIELD_RE.test(value)) return [];
  const verdicts: DkimVerdict[] = [];
  for (const [, domain = '', result = ''] of value.matchAll(DKIM_ENTRY_RE)) {
    const host = hostname(domain);
    // one entry that is not a host name makes the whole field suspect
    if (host === undefined) return [];
    verdicts.push({ domain: host, result: result.toLowerCase() });
    // dropping some would skew the per-domain count below, so too many is malformed, not truncated
    if (verdicts.length > MAX_SIGNATURES) return [];
  }
  return verdicts;
}

function dkimAligned(verdicts: readonly DkimVerdict[], fromDomain: string, signed: ReadonlyMap<string, number>): boolean {
  return verdicts.some(({ domain, result }) => {
    if (result !== 'pass' || !alignsWith(domain, fromDomain)) return false;
    const listed = verdicts.filter((v) => v.domain === domain).length;
    return (signed.get(domain) ?? 0) >= listed;
  });
}

/** How many signature headers name each `d=` domain (only well-formed host names count). */
function signingDomains(headers: string | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  if (headers === undefined) return counts;
  for (const [name, value] of headerFields(headers)) {
    if (name !== 'dkim-signature' && name !== 'domainkey-signature') continue;
    for (const tag of value.split(';')) {
      const eq = tag.indexOf('=');
      if (eq < 0 || tag.slice(0, eq).trim().toLowerCase() !== 'd') continue;
      // white space inside the value is not a domain: trimmed only, so such a d= counts for nothing
      const domain = hostname(tag.slice(eq + 1));
      if (domain !== undefined) counts.set(domain, (counts.get(domain) ?? 0) + 1);
      break;
    }
  }
  return counts;
}

/** The domain of the envelope sender (return path); undefined for the null path `<>`, missing or broken JSON. */
function envelopeSenderDomain(raw: string | undefined): string | undefined {
  if (raw === undefined || raw.length > MAX_VERDICT_CHARS) return undefined;
  try {
    const envelope: unknown = JSON.parse(raw);
    if (typeof envelope !== 'object' || envelope === null || !('from' in envelope)) return undefined;
    const from: unknown = envelope.from;
    return typeof from === 'string' ? domainOf(from.trim().replace(/^<(.*)>$/, '$1')) : undefined;
  } catch {
    return undefined;
  }
}

/** The host-name domain of an address, lower-cased; undefined for a domain literal or no domain. */
function domainOf(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  return at < 0 ? undefined : hostname(address.slice(at + 1));
}

/** A host name of at least two labels, lower-cased, without a trailing dot; undefined otherwise. */
function hostname(raw: string): string | undefined {
  const name = raw.trim().toLowerCase().replace(/\.$/, '');
  return name.length <= 253 && HOSTNAME_RE.test(name) ? name : undefined;
}

/** Whether `signer` is `fromDomain` or a parent of it. */
function alignsWith(signer: string | undefined, fromDomain: string): boolean {
  return signer !== undefined && (signer === fromDomain || fromDomain.endsWith(`.${signer}`));
}
