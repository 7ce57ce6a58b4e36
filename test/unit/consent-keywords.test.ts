import { describe, expect, it } from 'vitest';
import { classifySmsKeyword } from '#shared/outbound/consent-keywords.ts';

describe('SMS consent keywords', () => {
  it.each(['STOP', 'stop', ' Stop\n', 'STOPALL', 'unsubscribe', 'Cancel', 'END', '\tquit ', 'REVOKE', 'optout'])('%j opts out', (body) => {
    // Act
    const keyword = classifySmsKeyword({ body });
    // Assess
    expect(keyword).toEqual({ kind: 'opt_out', source: 'sms:keyword', reply: false });
  });

  it.each(['START', 'yes', ' Unstop '])('%j opts back in', (body) => {
    expect(classifySmsKeyword({ body })).toEqual({ kind: 'opt_in', source: 'sms:keyword', reply: false });
  });

  it.each([' help ', 'HELP', 'info', 'Info\n'])('answers %j (HELP or INFO) itself when Twilio did not', (body) => {
    expect(classifySmsKeyword({ body })).toEqual({ kind: 'help', source: 'sms:keyword', reply: true });
  });

  it.each(['stop please', 'STOP!', 'please stop', 'S T O P', 'stopp', '', '   ', 'yes I will be there', 'ſtop', 'HELP me', 'more info', 'infos'])(
    '%j is an ordinary message for an agent',
    (body) => {
      expect(classifySmsKeyword({ body })).toBeUndefined();
    },
  );

  it('follows Twilio’s OptOutType over the body (localised or custom keywords)', () => {
    expect(classifySmsKeyword({ body: 'arret', optOutType: 'STOP' })).toEqual({ kind: 'opt_out', source: 'twilio:OptOutType', reply: false });
    expect(classifySmsKeyword({ body: 'STOP', optOutType: 'START' })).toEqual({ kind: 'opt_in', source: 'twilio:OptOutType', reply: false });
  });

  it('does not answer a HELP Twilio already answered', () => {
    expect(classifySmsKeyword({ body: 'HELP', optOutType: 'HELP' })).toEqual({ kind: 'help', source: 'twilio:OptOutType', reply: false });
  });
});
