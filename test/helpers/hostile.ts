import fc from 'fast-check';
import { formParams, signTwilio } from './twilio.ts';

/**
 * fast-check arbitraries for property tests that throw damaged requests at a parser: byte-level
 * mutations of a valid body (any format) and random or mutated `application/x-www-form-urlencoded`
 * bodies (the Twilio webhooks).
 */

/** A change to a body: bytes flipped, cut, spliced in, dropped or repeated. */
export type Mutation = (body: Buffer) => Buffer;

/** A position in the body from a random natural number (uniform, unlike fc.double which favours edges). */
const at = (body: Buffer, n: number) => n % (body.length + 1);
const position = fc.nat({ max: 1_000_000 });

/**
 * One mutation of a body: a flipped byte, a truncation, one of `markers` (the format's own delimiters,
 * e.g. a multipart boundary line) spliced in, random bytes spliced in, a span dropped, the slice before a
 * position repeated, or one of `rewrites` applied to the whole body.
 *
 * @example
 * ```ts
 * const mutation = bodyMutation({ markers: [Buffer.from('&')] });
 * fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (ms) => post(applyMutations(valid, ms)));
 * ```
 */
export function bodyMutation({ markers, rewrites = [] }: { markers: readonly Buffer[]; rewrites?: readonly Mutation[] }): fc.Arbitrary<Mutation> {
  const mutations: Array<fc.Arbitrary<Mutation>> = [
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
    fc.tuple(position, fc.constantFrom(...markers)).map(
      ([where, marker]): Mutation =>
        (body) =>
          Buffer.concat([body.subarray(0, at(body, where)), marker, body.subarray(at(body, where))]),
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
          // repeat the slice before the position (a delimiter and part of a field, usually)
          const i = at(body, where);
          return Buffer.concat([body.subarray(0, i), body.subarray(Math.max(0, i - 200), i), body.subarray(i)]);
        },
    ),
  ];
  if (rewrites.length > 0) mutations.push(fc.constantFrom(...rewrites));
  return fc.oneof(...mutations);
}

/** `body` after each of `mutations`, in order. */
export function applyMutations(body: Buffer, mutations: readonly Mutation[]): Buffer {
  return mutations.reduce((acc, mutate) => mutate(acc), body);
}

/** Form delimiters and escapes, valid and broken, for {@link bodyMutation}. */
export const FORM_MARKERS: readonly Buffer[] = ['&', '=', '+', '%', '%zz', '%FF', '%00', '%C3%28', '&&=', '%26', '%3D'].map((s) => Buffer.from(s));

/** Field names a form parser may trip on whatever the route: prototype names, empty and indexed ones. */
const TRICKY_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '', 'MediaUrl0', 'NumMedia'];

const text = fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'grapheme', maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }));

/** Encodes name/value pairs as a form body (a repeated name stays repeated). */
export const encodeForm = (pairs: ReadonlyArray<readonly [string, string]>): Buffer => Buffer.from(new URLSearchParams(pairs.map(([k, v]): [string, string] => [k, v])).toString());

/**
 * Form bodies built from nothing: random text, or random pairs over the route's field names, tricky
 * names and random ones, with random values (repeated names included).
 */
export function randomFormBody(keys: readonly string[]): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.string({ maxLength: 300 }).map((s) => Buffer.from(s)),
    fc.array(fc.tuple(fc.oneof(fc.constantFrom(...keys, ...TRICKY_KEYS), fc.string({ maxLength: 20 })), text), { maxLength: 12 }).map(encodeForm),
  );
}

/** A valid form with fields dropped, replaced, repeated or added, and which fields were touched how. */
export type FieldMutation = { body: Buffer; dropped: string[]; replaced: string[]; repeated: string[] };

/**
 * Mutations of a valid form, field by field: some fields dropped, some replaced by random values or by
 * one of `values` (plausible ones: other formats, edge cases), some repeated, unknown ones added.
 *
 * @example
 * ```ts
 * fieldMutation(valid, { From: ['Anonymous', '+1 628 555 0100'] }).filter((m) => m.dropped.includes('CallSid'));
 * ```
 */
export function fieldMutation(valid: Readonly<Record<string, string>>, values: Readonly<Record<string, readonly string[]>> = {}): fc.Arbitrary<FieldMutation> {
  const keys = Object.keys(valid);
  const anyKey = fc.constantFrom(...keys, ...Object.keys(values).filter((k) => !keys.includes(k)));
  const valueFor = (key: string) => (values[key]?.length ? fc.oneof(fc.constantFrom(...values[key]!), text) : text);
  return fc
    .record({
      // Mostly one change at a time, so that some samples stay acceptable and reach what runs after the parser.
      dropped: fc.oneof({ arbitrary: fc.constant<string[]>([]), weight: 2 }, fc.subarray(keys, { minLength: 1 })),
      replace: fc.uniqueArray(anyKey, { maxLength: 3 }).chain((ks) => fc.tuple(...ks.map((k) => valueFor(k).map((v) => [k, v] as const)))),
      repeated: fc.oneof({ arbitrary: fc.constant<string[]>([]), weight: 3 }, fc.subarray(keys, { minLength: 1, maxLength: 2 })),
      extra: fc.oneof({ arbitrary: fc.constant<Array<[string, string]>>([]), weight: 2 }, fc.array(fc.tuple(fc.oneof(fc.constantFrom(...TRICKY_KEYS), fc.string({ maxLength: 20 })), text), { minLength: 1, maxLength: 2 })),
    })
    .map(({ dropped, replace, repeated, extra }) => {
      const fields = new Map<string, string>(Object.entries(valid));
      for (const [key, value] of replace) fields.set(key, value);
      for (const key of dropped) fields.delete(key);
      const pairs: Array<readonly [string, string]> = [...fields];
      for (const key of repeated) if (fields.has(key)) pairs.push([key, fields.get(key)!]);
      pairs.push(...extra);
      return {
        body: encodeForm(pairs),
        dropped,
        replaced: replace.map(([k]) => k),
        repeated: repeated.filter((k) => fields.has(k)),
      };
    });
}

/** How a Twilio webhook sample is signed: over its exact body, not at all, with another token, or for another URL. */
export type TwilioSigning = 'exact' | 'none' | 'forged' | 'other-url';

/** Mostly `exact`, so most samples get past the signature check and reach the parser. */
export const twilioSigning: fc.Arbitrary<TwilioSigning> = fc.oneof(
  { arbitrary: fc.constant<TwilioSigning>('exact'), weight: 6 },
  { arbitrary: fc.constantFrom<TwilioSigning>('none', 'forged', 'other-url'), weight: 2 },
);

/**
 * The `signature` option of `postTwilioBody` for a signing mode: `undefined` (sign the exact body), none,
 * one made with another auth token, or one over the same body for another host.
 */
export function twilioSignature(signing: TwilioSigning, url: string, body: Uint8Array, authToken: string): string | undefined {
  switch (signing) {
    case 'exact':
      return undefined;
    case 'none':
      return '';
    case 'forged':
      return signTwilio(url, formParams(body), `${authToken}-not`);
    case 'other-url':
      return signTwilio(url.replace(/^https?:\/\/[^/]+/, 'https://evil.example.com'), formParams(body), authToken);
  }
}
