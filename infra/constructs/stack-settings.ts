import { CfnParameter, type Stack } from 'aws-cdk-lib';
import type { StackSettingName } from '#infra/handler-access.ts';

type ParameterSpec = {
  readonly description: string;
  readonly type?: 'String' | 'Number';
  readonly allowedPattern?: string;
  readonly constraintDescription?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minValue?: number;
};

/** An empty value is allowed (and means: this channel is not configured; its sends fail as ConfigError). */
const orEmpty = (pattern: string): string => `^(${pattern})?$`;

const rate = (channel: string, hint: string): ParameterSpec => ({
  type: 'Number',
  minValue: 0.001,
  description: `Broadcast pacing for ${channel}, messages per second (${hint}).`,
});

/**
 * Why CloudFormation parameters rather than CDK context: the values are an operator's deploy-time
 * choices, not synth-time facts. `cdk synth` stays offline and value-free, one synthesized template
 * serves every environment, a value changes with a deploy and no rebuild, and CloudFormation checks
 * each value's shape (below) before anything is created. No parameter has a default: the first
 * `cdk deploy` must name each one (`--parameters TwilioAccountSid=AC…`); later deploys keep the
 * previous values unless given new ones.
 */
const parameterSpecs: Readonly<Record<StackSettingName, ParameterSpec>> = {
  TWILIO_ACCOUNT_SID: {
    description: 'Twilio Account SID (AC…) that sends SMS and places calls and whose media URLs inbound MMS use. Empty: SMS and voice are not configured.',
    allowedPattern: orEmpty('AC[0-9a-fA-F]{32}'),
    constraintDescription: 'AC followed by 32 hex digits, or empty',
  },
  TWILIO_API_KEY_SID: {
    description: 'SID of the Twilio API key (SK…) used to send; its secret is in the TWILIO_API_KEY_SECRET secret. Empty: SMS and voice are not configured.',
    allowedPattern: orEmpty('SK[0-9a-fA-F]{32}'),
    constraintDescription: 'SK followed by 32 hex digits, or empty',
  },
  TWILIO_FROM_NUMBER: {
    description: 'The Twilio number (E.164) outbound SMS and calls come from. Empty: SMS and voice are not configured.',
    allowedPattern: orEmpty('\\+[1-9][0-9]{6,14}'),
    constraintDescription: 'an E.164 number such as +14155550100, or empty',
  },
  EMAIL_FROM: {
    description: 'Sender address of outbound email (a SendGrid verified sender). Empty: email is not configured.',
    allowedPattern: orEmpty('[^\\s@<>]+@[^\\s@<>]+\\.[^\\s@<>]+'),
    constraintDescription: 'an email address such as support@example.com, or empty',
  },
  CHAT_DELIVERY_URL: {
    description: 'HTTPS URL of the chat backend that outbound chat messages are POSTed to (signed with CHAT_WEBHOOK_SECRET). Empty: chat is not configured.',
    allowedPattern: orEmpty('https://[^\\s]+'),
    constraintDescription: 'an https:// URL, or empty',
  },
  SMS_HELP_TEXT: {
    description: 'The reply to an inbound SMS HELP: how to reach a person and how to opt out (carriers require both).',
    minLength: 1,
    maxLength: 480,
  },
  VOICE_HUMAN_CONTACT: {
    description: 'What callers hear, before the recording, about how to reach a person (spoken after the automation and recording disclosure).',
    minLength: 1,
    maxLength: 1000,
  },
  BROADCAST_RATE_SMS_PER_SECOND: rate('SMS', 'a Twilio long code sends about 1 segment/s'),
  BROADCAST_RATE_EMAIL_PER_SECOND: rate('email', 'within the SendGrid plan'),
  BROADCAST_RATE_CHAT_PER_SECOND: rate('chat', 'what the chat backend accepts'),
  BROADCAST_RATE_VOICE_PER_SECOND: rate('voice', 'calls per second; 0.2 = one every 5 s'),
};

/**
 * The deploy-time settings of a stack, one CloudFormation parameter each (named in PascalCase:
 * `TWILIO_ACCOUNT_SID` → `TwilioAccountSid`), created on first use so the template asks only for
 * settings some deployed handler reads.
 *
 * @example
 * ```ts
 * const settings = new StackSettings(this);
 * fn.addEnvironment('EMAIL_FROM', settings.value('EMAIL_FROM'));
 * ```
 */
export class StackSettings {
  private readonly parameters = new Map<StackSettingName, CfnParameter>();
  private readonly stack: Stack;

  constructor(stack: Stack) {
    this.stack = stack;
  }

  /** The value of `name` at deploy time (a token). */
  value(name: StackSettingName): string {
    let parameter = this.parameters.get(name);
    if (!parameter) {
      const spec = parameterSpecs[name];
      // On the stack itself, so the parameter's logical id is exactly the PascalCase name operators type.
      parameter = new CfnParameter(this.stack, parameterName(name), { type: 'String', ...spec });
      this.parameters.set(name, parameter);
    }
    return parameter.valueAsString;
  }
}

/**
 * The CloudFormation parameter name of a setting.
 *
 * @example
 * ```ts
 * parameterName('TWILIO_ACCOUNT_SID'); // 'TwilioAccountSid'
 * ```
 */
export function parameterName(name: StackSettingName): string {
  return name
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}
