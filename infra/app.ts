import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { OmnichannelStack } from '#infra/omnichannel-stack.ts';

/**
 * The CDK app: one environment-agnostic stack (no lookups, so `cdk synth` runs offline; the account and
 * region come from the deploying credentials), checked by cdk-nag's AWS Solutions rules. Any unacknowledged
 * finding fails the synth.
 *
 * Context: `-c stackName=…` (default OmnichannelSupport), `-c publicBaseUrl=https://…` when a custom
 * domain fronts the API.
 */
const app = new App();

const stackName = app.node.tryGetContext('stackName') ?? 'OmnichannelSupport';
const publicBaseUrl: unknown = app.node.tryGetContext('publicBaseUrl');

new OmnichannelStack(app, stackName, {
  description: 'Omnichannel customer-support messaging backend (webhooks, staff API, single-table store)',
  publicBaseUrl: typeof publicBaseUrl === 'string' && publicBaseUrl !== '' ? publicBaseUrl.replace(/\/+$/, '') : undefined,
});

Tags.of(app).add('project', 'omnichannel-support');
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }));
