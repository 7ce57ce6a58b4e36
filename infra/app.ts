import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DEFAULT_ROUTE_THROTTLE, OmnichannelStack } from '#infra/omnichannel-stack.ts';

/**
 * The CDK app: one environment-agnostic stack (no lookups, so `cdk synth` runs offline; the account and
 * region come from the deploying credentials), checked by cdk-nag's AWS Solutions rules. Any unacknowledged
 * finding fails the synth.
 *
 * Context: `-c stackName=…` (default OmnichannelSupport), `-c publicBaseUrl=https://…` when a custom
 * domain fronts the API, `-c apiRateLimit=…` and `-c apiBurstLimit=…` for the per-route throttle
 * (default 1000 requests/s, bursts of 2000).
 *
 * Deploy-time settings are CloudFormation parameters without defaults (infra/constructs/stack-settings.ts),
 * so synth needs none of them and the first deploy names every one:
 *
 *   npx cdk deploy \
 *     --parameters TwilioAccountSid=AC… --parameters TwilioApiKeySid=SK… --parameters TwilioFromNumber=+1… \
 *     --parameters EmailFrom=support@example.com --parameters ChatDeliveryUrl=https://chat.example.com/deliveries \
 *     --parameters SmsHelpText="Support: reply here or use the app chat to reach a person. Reply STOP to opt out." \
 *     --parameters VoiceHumanContact="A member of our support team will call you back. To reach a person sooner, message us in the app." \
 *     --parameters BroadcastRateSmsPerSecond=1 --parameters BroadcastRateEmailPerSecond=10 \
 *     --parameters BroadcastRateChatPerSecond=20 --parameters BroadcastRateVoicePerSecond=0.2
 *
 * An empty provider setting (e.g. `EmailFrom=`) leaves that channel unconfigured: its sends fail
 * (`channel_not_configured`) rather than go anywhere. Later deploys keep the previous values of parameters they do not name. Secrets are
 * not parameters: store them in the Secrets Manager secrets the stack outputs (`…SecretArn`).
 */
const app = new App();

/** A context value that must be a positive whole number when given (a typo fails the synth). */
function positiveContext(name: string): number | undefined {
  const raw: unknown = app.node.tryGetContext(name);
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`-c ${name} must be a positive whole number, got ${String(raw)}`);
  return value;
}

const stackName = app.node.tryGetContext('stackName') ?? 'OmnichannelSupport';
const publicBaseUrl: unknown = app.node.tryGetContext('publicBaseUrl');
const rateLimit = positiveContext('apiRateLimit');
const burstLimit = positiveContext('apiBurstLimit');

new OmnichannelStack(app, stackName, {
  description: 'Omnichannel customer-support messaging backend (webhooks, staff API, single-table store)',
  publicBaseUrl: typeof publicBaseUrl === 'string' && publicBaseUrl !== '' ? publicBaseUrl.replace(/\/+$/, '') : undefined,
  throttle: { rateLimit: rateLimit ?? DEFAULT_ROUTE_THROTTLE.rateLimit, burstLimit: burstLimit ?? DEFAULT_ROUTE_THROTTLE.burstLimit },
});

Tags.of(app).add('project', 'omnichannel-support');
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }));
