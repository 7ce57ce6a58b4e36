import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { SecretName } from '#shared/config.ts';

/** Who issues each secret, i.e. what an operator must do after the first deploy. */
/**
 * Where each secret comes from, and why it is not rotated on a schedule (cdk-nag AwsSolutions-SMG4):
 * `provider`: issued in the provider's console; `us`: generated here and shared with a third party;
 * `us-links`: generated here, never shared, but it signs links already in customers' mailboxes.
 */
const secretOrigin: Readonly<Record<SecretName, { readonly issuedBy: 'provider' | 'us' | 'us-links'; readonly description: string }>> = {
  TWILIO_AUTH_TOKEN: { issuedBy: 'provider', description: 'Twilio Auth Token (signs X-Twilio-Signature). Paste it from the Twilio console.' },
  SENDGRID_INBOUND_SECRET: {
    issuedBy: 'us',
    description: 'Password of the HTTP Basic auth (user "inbound") in the SendGrid Inbound Parse URL. Generated; copy it into SendGrid.',
  },
  SENDGRID_EVENT_PUBLIC_KEY: {
    issuedBy: 'provider',
    description: 'SendGrid Event Webhook ECDSA verification public key. Paste it from the SendGrid console.',
  },
  CHAT_WEBHOOK_SECRET: {
    issuedBy: 'us',
    description: 'HMAC-SHA256 key shared with the chat backend for webhooks and deliveries. Generated; give it to the chat backend.',
  },
  TWILIO_API_KEY_SECRET: { issuedBy: 'provider', description: 'Secret of the Twilio API key used to send SMS and place calls. Paste it from the Twilio console.' },
  SENDGRID_API_KEY: { issuedBy: 'provider', description: 'SendGrid API key (Mail Send permission only). Paste it from the SendGrid console.' },
  UNSUBSCRIBE_SIGNING_SECRET: { issuedBy: 'us-links', description: 'HMAC key signing one-click unsubscribe links (RFC 8058). Generated; nothing to copy.' },
};

/** Every secret the product uses, in a stable order. */
export const providerSecretNames = Object.keys(secretOrigin) as SecretName[];

/**
 * One Secrets Manager secret per product secret, named `<stack>/<NAME>`. Each is created with a random
 * value: the ones we issue are usable as they are; the provider-issued ones are placeholders that make
 * every signature check fail (fail closed) until an operator stores the real value.
 *
 * @example
 * ```ts
 * const secrets = new ProviderSecrets(this, 'Secrets');
 * secrets.secret('TWILIO_AUTH_TOKEN').grantRead(fn);
 * ```
 */
export class ProviderSecrets extends Construct {
  private readonly secrets: ReadonlyMap<SecretName, Secret>;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const stackName = Stack.of(this).stackName;
    this.secrets = new Map(
      providerSecretNames.map((name) => {
        const origin = secretOrigin[name];
        const secret = new Secret(this, name, {
          secretName: `${stackName}/${name}`,
          description: origin.description,
          // Alphanumeric so the value can sit in a Basic-auth URL or a header unescaped.
          generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
          removalPolicy: RemovalPolicy.RETAIN,
        });
        Validations.of(secret.node.defaultChild ?? secret).acknowledge({
          id: 'AwsSolutions-SMG4',
          reason:
            origin.issuedBy === 'provider'
              ? `${name} is issued by the provider and can only be rotated in the provider's console; a rotation Lambda cannot create it.`
              : origin.issuedBy === 'us'
                ? `${name} is shared with a third party (configured on their side), so rotating it is a coordinated manual change, not a scheduled rotation.`
                : `${name} is held by no one outside, but it signs the one-click unsubscribe links in emails already sent, and verification accepts one key: a scheduled rotation would silently break every earlier link (an opt-out a customer could no longer make).`,
        });
        return [name, secret] as const;
      }),
    );
  }

  /**
   * The secret holding `name`.
   *
   * @example
   * ```ts
   * secrets.secret('CHAT_WEBHOOK_SECRET').secretArn;
   * ```
   */
  secret(name: SecretName): Secret {
    const secret = this.secrets.get(name);
    if (!secret) throw new Error(`No secret ${name}`);
    return secret;
  }

  /** Every secret with its name, for outputs. */
  entries(): ReadonlyArray<readonly [SecretName, Secret]> {
    return [...this.secrets.entries()];
  }
}
