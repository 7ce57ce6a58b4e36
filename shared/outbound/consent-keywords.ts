/**
 * SMS consent keywords (CTIA / Twilio defaults). A keyword counts only when it is the whole message,
 * ignoring case and surrounding whitespace: "stop" opts out, "please stop texting me" is a message for
 * an agent.
 */
/** Twilio's default opt-out list, which since 2025 also has REVOKE and OPTOUT (FCC revocation rules). */
export const OPT_OUT_KEYWORDS = ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT'] as const;
export const OPT_IN_KEYWORDS = ['START', 'YES', 'UNSTOP'] as const;
/** HELP and INFO: the help keywords of the CTIA guidelines, both answered by Twilio's own keyword handling too. */
export const HELP_KEYWORDS = ['HELP', 'INFO'] as const;

/** Twilio's `OptOutType` webhook parameter: set when Twilio's own opt-out handling recognised the message. */
export type TwilioOptOutType = 'STOP' | 'START' | 'HELP';

export type SmsKeyword = {
  kind: 'opt_out' | 'opt_in' | 'help';
  /** The consent ledger's `source`: Twilio's classification when it gave one, else ours. */
  source: 'twilio:OptOutType' | 'sms:keyword';
  /**
   * Whether the product should answer a HELP itself. Twilio answers the keywords it handled (those that
   * come with `OptOutType`) with the messaging service's own reply; answering too would text the
   * customer twice.
   */
  reply: boolean;
};

const byOptOutType: Record<TwilioOptOutType, SmsKeyword['kind']> = { STOP: 'opt_out', START: 'opt_in', HELP: 'help' };

/**
 * What an inbound SMS asks of the consent ledger, or `undefined` for an ordinary message. Twilio's
 * `OptOutType` wins over the body: it reflects Twilio's own (possibly localised or custom) keyword list,
 * which is what decides whether Twilio will still deliver to the number.
 *
 * @example
 * ```ts
 * classifySmsKeyword({ body: ' Stop ' });                      // { kind: 'opt_out', source: 'sms:keyword', reply: false }
 * classifySmsKeyword({ body: 'arret', optOutType: 'STOP' });   // { kind: 'opt_out', source: 'twilio:OptOutType', reply: false }
 * classifySmsKeyword({ body: 'help' });                        // { kind: 'help', source: 'sms:keyword', reply: true }
 * classifySmsKeyword({ body: 'stop the charges please' });     // undefined
 * ```
 */
export function classifySmsKeyword(input: { body: string; optOutType?: TwilioOptOutType | undefined }): SmsKeyword | undefined {
  if (input.optOutType !== undefined) return { kind: byOptOutType[input.optOutType], source: 'twilio:OptOutType', reply: false };
  const trimmed = input.body.trim();
  // ASCII only: Unicode case folding would turn e.g. "ſtop" into STOP.
  if (!/^[A-Za-z]{1,16}$/.test(trimmed)) return undefined;
  const word = trimmed.toUpperCase();
  const kind = includes(OPT_OUT_KEYWORDS, word) ? 'opt_out' : includes(OPT_IN_KEYWORDS, word) ? 'opt_in' : includes(HELP_KEYWORDS, word) ? 'help' : undefined;
  return kind === undefined ? undefined : { kind, source: 'sms:keyword', reply: kind === 'help' };
}

function includes(list: readonly string[], word: string): boolean {
  return list.includes(word);
}
