import type { SmsInfo } from '#shared/domain/template.ts';

/**
 * GSM 03.38 (3GPP TS 23.038) default alphabet: the 127 characters of one septet (0x1B, the escape,
 * is not a character). Greek capitals are written as escapes: look-alike Latin letters are not them.
 */
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅå' +
    '\u0394_\u03A6\u0393\u039B\u03A9\u03A0\u03A8\u03A3\u0398\u039EÆæßÉ' +
    ' !"#¤%&\'()*+,-./' +
    '0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§' +
    '¿abcdefghijklmnopqrstuvwxyzäöñüà',
);

/** The extension table: escape + code, so two septets each. */
const GSM_EXTENSION = new Set('\f^{}\\[~]|€');

const GSM_SINGLE = 160;
const GSM_CONCATENATED = 153;
const UCS2_SINGLE = 70;
const UCS2_CONCATENATED = 67;

/**
 * How an SMS body travels and what it costs: GSM-7 when every character is in the GSM 03.38 default
 * alphabet or its extension table (extension characters count two septets), otherwise UCS-2 counted in
 * UTF-16 code units (an emoji counts two). One segment holds 160 septets / 70 units; a longer message is
 * split into segments of 153 / 67 (the rest is the concatenation header). As carriers and Twilio's
 * segment calculator do, a character is never split across two segments: an escape pair or a surrogate
 * pair that would straddle a boundary starts the next segment, which can cost one segment more than
 * `ceil(length / 153)`. An empty body is one segment of 0 characters. `characters` is septets (GSM-7)
 * or UTF-16 units (UCS-2).
 *
 * @example
 * ```ts
 * smsInfo('Hello'); // { encoding: 'GSM-7', segments: 1, characters: 5 }
 * smsInfo('Hi 👋'); // { encoding: 'UCS-2', segments: 1, characters: 5 }
 * ```
 */
export function smsInfo(body: string): SmsInfo {
  const gsm = gsmSeptets(body);
  if (gsm !== undefined) return { encoding: 'GSM-7', characters: gsm, segments: gsm <= GSM_SINGLE ? 1 : pack(body, GSM_CONCATENATED, septetsOf) };
  return { encoding: 'UCS-2', characters: body.length, segments: body.length <= UCS2_SINGLE ? 1 : pack(body, UCS2_CONCATENATED, (c) => c.length) };
}

/** Total septets, or undefined when some character is not in GSM-7. */
function gsmSeptets(body: string): number | undefined {
  let septets = 0;
  for (const c of body) {
    if (GSM_BASIC.has(c)) septets += 1;
    else if (GSM_EXTENSION.has(c)) septets += 2;
    else return undefined;
  }
  return septets;
}

const septetsOf = (c: string) => (GSM_EXTENSION.has(c) ? 2 : 1);

/** Segments needed when each code point (of `sizeOf` units) must fit whole in a segment of `capacity`. */
function pack(body: string, capacity: number, sizeOf: (c: string) => number): number {
  let segments = 1;
  let used = 0;
  for (const c of body) {
    const size = sizeOf(c);
    if (used + size > capacity) {
      segments += 1;
      used = 0;
    }
    used += size;
  }
  return segments;
}
