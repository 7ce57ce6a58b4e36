import { describe, expect, it } from 'vitest';
import { smsInfo } from '#shared/templates/sms-segments.ts';

/** The GSM 03.38 default alphabet as published (3GPP TS 23.038 §6.2.1), row by row, without ESC (0x1B). */
const GSM_DEFAULT_ALPHABET = [
  [0x40, 0xa3, 0x24, 0xa5, 0xe8, 0xe9, 0xf9, 0xec, 0xf2, 0xc7, 0x0a, 0xd8, 0xf8, 0x0d, 0xc5, 0xe5],
  [0x394, 0x5f, 0x3a6, 0x393, 0x39b, 0x3a9, 0x3a0, 0x3a8, 0x3a3, 0x398, 0x39e, 0xc6, 0xe6, 0xdf, 0xc9],
  [0x20, 0x21, 0x22, 0x23, 0xa4, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f],
  [0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f],
  [0xa1, ...range(0x41, 0x5a), 0xc4, 0xd6, 0xd1, 0xdc, 0xa7],
  [0xbf, ...range(0x61, 0x7a), 0xe4, 0xf6, 0xf1, 0xfc, 0xe0],
]
  .flat()
  .map((code) => String.fromCodePoint(code))
  .join('');
const GSM_EXTENSION = '\f^{}\\[~]|€';

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

describe('smsInfo', () => {
  it('counts an empty body as one segment of no characters', () => {
    expect(smsInfo('')).toEqual({ encoding: 'GSM-7', segments: 1, characters: 0 });
  });

  it.each([
    [160, 1],
    [161, 2],
    [306, 2],
    [307, 3],
    [459, 3],
    [460, 4],
    [1600, 11],
  ])('sends %i GSM-7 characters in %i segment(s)', (length, segments) => {
    expect(smsInfo('a'.repeat(length))).toEqual({ encoding: 'GSM-7', segments, characters: length });
  });

  it('keeps the whole GSM 03.38 default alphabet in GSM-7, one septet each', () => {
    expect(GSM_DEFAULT_ALPHABET).toHaveLength(127);
    expect(smsInfo(GSM_DEFAULT_ALPHABET)).toEqual({ encoding: 'GSM-7', segments: 1, characters: 127 });
  });

  it('counts each extension-table character (form feed ^ { } \\ [ ~ ] | €) as two septets', () => {
    // Act
    const each = [...GSM_EXTENSION].map((c) => smsInfo(c));

    // Assess
    expect(each).toEqual([...GSM_EXTENSION].map(() => ({ encoding: 'GSM-7', segments: 1, characters: 2 })));
  });

  it('fits 80 euro signs in one segment and needs two for 81', () => {
    expect(smsInfo('€'.repeat(80))).toEqual({ encoding: 'GSM-7', segments: 1, characters: 160 });
    expect(smsInfo('€'.repeat(81))).toEqual({ encoding: 'GSM-7', segments: 2, characters: 162 });
  });

  it('counts line breaks: CR and LF are one character each', () => {
    expect(smsInfo('a\r\nb')).toEqual({ encoding: 'GSM-7', segments: 1, characters: 4 });
  });

  it.each(['ç', '`', 'Á', 'ê', '’', '“', '\t', 'ж', '中'])('switches to UCS-2 for %j, not in GSM-7', (c) => {
    expect(smsInfo(`Hello ${c}`)).toEqual({ encoding: 'UCS-2', segments: 1, characters: 7 });
  });

  it('switches the whole message to UCS-2 for one emoji, which counts two', () => {
    expect(smsInfo('Your order has shipped 📦')).toEqual({ encoding: 'UCS-2', segments: 1, characters: 25 });
  });

  it.each([
    [70, 1],
    [71, 2],
    [134, 2],
    [135, 3],
  ])('sends %i UCS-2 characters in %i segment(s)', (length, segments) => {
    expect(smsInfo('ж'.repeat(length))).toEqual({ encoding: 'UCS-2', segments, characters: length });
  });

  it('counts UTF-16 units in UCS-2: an emoji and 68 more fit one segment, 69 more need two', () => {
    expect(smsInfo(`😜${'2'.repeat(68)}`)).toEqual({ encoding: 'UCS-2', segments: 1, characters: 70 });
    expect(smsInfo(`😜${'2'.repeat(69)}`)).toEqual({ encoding: 'UCS-2', segments: 2, characters: 71 });
  });

  it('counts extension-table characters as one unit once the message is UCS-2', () => {
    expect(smsInfo(`😀${']'.repeat(68)}`)).toEqual({ encoding: 'UCS-2', segments: 1, characters: 70 });
  });

  it('never splits a euro sign across two GSM-7 segments', () => {
    // Prepare: 152 + 2 + 152 = 306 septets, but the escape pair cannot straddle the 153 boundary
    const body = `${'a'.repeat(152)}€${'a'.repeat(152)}`;

    // Act
    const info = smsInfo(body);

    // Assess
    expect(info).toEqual({ encoding: 'GSM-7', segments: 3, characters: 306 });
  });

  it('never splits an emoji across two UCS-2 segments', () => {
    // Prepare: 66 + 2 + 66 = 134 units, but the surrogate pair cannot straddle the 67 boundary
    const body = `${'ж'.repeat(66)}😀${'ж'.repeat(66)}`;

    // Act
    const info = smsInfo(body);

    // Assess
    expect(info).toEqual({ encoding: 'UCS-2', segments: 3, characters: 134 });
  });
});
