import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { esbuildOptionsFor, esmRequireBanner, handlerBundling } from '#infra/bundling.ts';
import { parameterName } from '#infra/constructs/stack-settings.ts';
import { accessForConsumer, accessForRoute, stackSettingNames, type StackSettingName } from '#infra/handler-access.ts';
import { OmnichannelStack, routeFunctionDescription } from '#infra/omnichannel-stack.ts';
import { MAX_BODY_BYTES, type SecretName } from '#shared/config.ts';
import { AUDIT_PK_PREFIX } from '#shared/data/keys.ts';
import { tableSchema } from '#shared/data/table-schema.ts';
import { httpRoutes, queueConsumers, type HttpRoute, type QueueConsumer } from '#shared/routes.ts';

/*
 * Assertions on the synthesized template. The stack is built with `skipBundling` (placeholder code):
 * these tests check the template, not the bundle, so they need neither esbuild nor every handler file.
 * `npx cdk synth` builds the real bundles. Synthesized once for the whole file.
 */

type Resource = { Type: string; Properties?: Record<string, any>; DependsOn?: string | string[]; DeletionPolicy?: string };
type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

const stackName = 'OmnichannelTest';
const cdkContext = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context;
const deployedRoutes = httpRoutes.filter((r) => r.auth !== 'dev');
const staffRoutes = deployedRoutes.filter((r) => r.auth === 'staff');
const webhookRoutes = deployedRoutes.filter((r) => r.auth === 'webhook');

let stack: OmnichannelStack;
let template: Template;
let resources: Record<string, Resource>;

beforeAll(() => {
  const app = new App({ context: cdkContext });
  stack = new OmnichannelStack(app, stackName, { skipBundling: true });
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources;
});

function resourcesOfType(type: string): Array<[string, Resource]> {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

function functionFor(description: string): [string, Resource] {
  const found = resourcesOfType('AWS::Lambda::Function').filter(([, r]) => r.Properties?.['Description'] === description);
  expect(found, `one function described as ${description}`).toHaveLength(1);
  return found[0]!;
}

const routeFunction = (route: HttpRoute) => functionFor(routeFunctionDescription(route));
const consumerFunction = (consumer: QueueConsumer) => functionFor(`Consumes the ${consumer.queue} queue`);
const functionOf = (name: string): [string, Resource] => {
  const route = deployedRoutes.find((r) => r.name === name);
  if (route) return routeFunction(route);
  return consumerFunction(queueConsumers.find((c) => c.name === name)!);
};

/** Logical id of a consumer's queue (`<stack>-<queue>` or `<stack>-<queue>.fifo`) and of its DLQ. */
function queueIdsOf(consumer: QueueConsumer): { queueId: string; dlqId: string } {
  const [queueId, queue] = resourcesOfType('AWS::SQS::Queue').find(
    ([, q]) => q.Properties?.['QueueName'] === `${stackName}-${consumer.queue}${consumer.fifo ? '.fifo' : ''}`,
  )!;
  return { queueId, dlqId: queue.Properties?.['RedrivePolicy'].deadLetterTargetArn['Fn::GetAtt'][0] };
}
const queueIdOf = (queue: string) => queueIdsOf(queueConsumers.find((c) => c.queue === queue)!).queueId;

/** Logical ids of the secrets, by product secret name. */
const secretIdOf = (name: SecretName): string =>
  resourcesOfType('AWS::SecretsManager::Secret').find(([, s]) => s.Properties?.['Name'] === `${stackName}/${name}`)![0];

function policyStatementsOf([, fn]: [string, Resource]): Statement[] {
  const roleId: string = fn.Properties?.['Role']['Fn::GetAtt'][0];
  return resourcesOfType('AWS::IAM::Policy')
    .filter(([, p]) => p.Properties?.['Roles'].some((r: { Ref?: string }) => r.Ref === roleId))
    .flatMap(([, p]) => p.Properties?.['PolicyDocument'].Statement as Statement[]);
}
/** What a function's role allows (its grants). */
const statementsOf = (fn: [string, Resource]): Statement[] => policyStatementsOf(fn).filter((s) => s.Effect !== 'Deny');
/** What a function's role denies whatever it allows. */
const denialsOf = (fn: [string, Resource]): Statement[] => policyStatementsOf(fn).filter((s) => s.Effect === 'Deny');

const actionsOf = (statements: Statement[]) => statements.flatMap((s) => [s.Action].flat());
/** Resources of statements, one by one (minimizePolicies merges statements with the same actions), in a stable order. */
const resourcesOf = (statements: Statement[]) =>
  statements.flatMap((s) => [s.Resource].flat()).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

function envOf([, fn]: [string, Resource]): Record<string, unknown> {
  return fn.Properties?.['Environment']?.Variables ?? {};
}

/** Logical ids a CloudFormation value refers to (Ref, GetAtt, Sub). */
function referencedIds(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) value.forEach((v) => referencedIds(v, into));
  else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'Ref' && typeof v === 'string') into.add(v);
      else if (key === 'Fn::GetAtt') into.add(Array.isArray(v) ? String(v[0]) : String(v).split('.')[0]!);
      else if (key === 'Fn::Sub') {
        const text = Array.isArray(v) ? String(v[0]) : String(v);
        for (const m of text.matchAll(/\$\{([A-Za-z0-9]+)[.}]/g)) into.add(m[1]!);
        referencedIds(v, into);
      } else referencedIds(v, into);
    }
  }
  return into;
}

describe('Lambda functions', () => {
  it('deploys one function per deployed route and per queue consumer, all Node.js 22 on ARM64', () => {
    // Act
    const functions = resourcesOfType('AWS::Lambda::Function');

    // Assess
    expect(functions).toHaveLength(deployedRoutes.length + queueConsumers.length);
    for (const [id, fn] of functions) {
      expect(fn.Properties, id).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Handler: 'index.handler' });
      expect(envOf([id, fn])).toMatchObject({ NODE_OPTIONS: '--enable-source-maps', POWERTOOLS_SERVICE_NAME: expect.any(String) });
    }
  });

  it('gives webhooks 10 s, consumers 60 s, and every function its own log group with retention', () => {
    // 10 s, except the chat webhook, whose links can merge two customers and move a thread (29 s).
    for (const route of webhookRoutes) expect(routeFunction(route)[1].Properties?.['Timeout'], route.name).toBe(route.name === 'ChatWebhook' ? 29 : 10);
    for (const consumer of queueConsumers) {
      expect(functionFor(`Consumes the ${consumer.queue} queue`)[1].Properties?.['Timeout']).toBe(60);
    }
    for (const [id, fn] of resourcesOfType('AWS::Lambda::Function')) {
      const logGroupId = fn.Properties?.['LoggingConfig']?.LogGroup?.Ref;
      expect(resources[logGroupId]?.Properties?.['RetentionInDays'], id).toBeGreaterThan(0);
    }
  });

  it('uses no AWS managed policy: each role may only write its own log group beyond explicit grants', () => {
    for (const [id, role] of resourcesOfType('AWS::IAM::Role')) {
      expect(role.Properties?.['ManagedPolicyArns'], id).toBeUndefined();
    }
  });

  it('bundles ESM, minified, with source maps, the SDK inside, and the createRequire banner, identically for esbuild', () => {
    // Act
    const esbuild = esbuildOptionsFor('functions/http/twilio-sms.ts', '.build/twilio-sms/index.mjs');

    // Assess
    expect(handlerBundling).toMatchObject({
      format: 'esm',
      minify: true,
      sourceMap: true,
      target: 'node22',
      bundleAwsSDK: true,
      externalModules: [],
      mainFields: ['module', 'main'],
      banner: esmRequireBanner,
      esbuildArgs: { '--legal-comments': 'external' },
      forceDockerBundling: false,
    });
    expect(esbuild).toMatchObject({
      entryPoints: ['functions/http/twilio-sms.ts'],
      bundle: true,
      platform: 'node',
      format: 'esm',
      minify: true,
      sourcemap: true,
      target: 'node22',
      external: [],
      mainFields: ['module', 'main'],
      banner: { js: esmRequireBanner },
      legalComments: 'external',
    });
  });
});

describe('HTTP API', () => {
  it('has exactly one route per non-dev route of shared/routes.ts, with its method and path', () => {
    // Act
    const routeKeys = resourcesOfType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties?.['RouteKey']);

    // Assess
    expect(routeKeys.sort()).toEqual(deployedRoutes.map((r) => `${r.method} ${r.path}`).sort());
    for (const dev of httpRoutes.filter((r) => r.auth === 'dev')) expect(routeKeys).not.toContain(`${dev.method} ${dev.path}`);
  });

  it('integrates each route with its own function, payload format 2.0', () => {
    for (const route of deployedRoutes) {
      const [fnId] = routeFunction(route);
      const [, apiRoute] = resourcesOfType('AWS::ApiGatewayV2::Route').find(
        ([, r]) => r.Properties?.['RouteKey'] === `${route.method} ${route.path}`,
      )!;
      const integrationId = [...referencedIds(apiRoute.Properties?.['Target'])][0]!;
      expect(resources[integrationId]?.Properties, route.name).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: { 'Fn::GetAtt': [fnId, 'Arn'] },
      });
    }
  });

  it('puts the Cognito JWT authorizer on every staff route and no authorizer on webhook routes', () => {
    // Prepare
    const [[authorizerId, authorizer]] = resourcesOfType('AWS::ApiGatewayV2::Authorizer') as [[string, Resource]];
    const routeByKey = new Map(resourcesOfType('AWS::ApiGatewayV2::Route').map(([, r]) => [r.Properties?.['RouteKey'], r]));

    // Assess
    expect(authorizer.Properties).toMatchObject({
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: {
        Issuer: { 'Fn::GetAtt': [expect.any(String), 'ProviderURL'] },
        Audience: [{ Ref: expect.any(String) }],
      },
    });
    for (const route of staffRoutes) {
      expect(routeByKey.get(`${route.method} ${route.path}`)?.Properties, route.name).toMatchObject({
        AuthorizationType: 'JWT',
        AuthorizerId: { Ref: authorizerId },
      });
    }
    for (const route of webhookRoutes) {
      const props = routeByKey.get(`${route.method} ${route.path}`)?.Properties;
      expect(props?.['AuthorizationType'], route.name).toBe('NONE');
      expect(props?.['AuthorizerId'], route.name).toBeUndefined();
    }
  });

  it('names in each staff function the roles that may call it, admin always included', () => {
    // Prepare: the issue 3 staff routes are deployed behind the authorizer too
    expect(staffRoutes.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining(['POST /templates', 'POST /templates/{templateId}/versions/{version}/approve', 'GET /approvals', 'POST /broadcasts']),
    );

    for (const route of staffRoutes) {
      // Act
      const description: string = routeFunction(route)[1].Properties?.['Description'];

      // Assess
      const roles = /\(staff: ([a-z, ]+)\)$/.exec(description)?.[1]?.split(', ');
      expect(roles?.sort(), route.name).toEqual([...new Set([...route.roles!, 'admin'])].sort());
    }
    expect(routeFunction(httpRoutes.find((r) => r.name === 'ApproveTemplateVersion')!)[1].Properties?.['Description']).toBe(
      'POST /templates/{templateId}/versions/{version}/approve (staff: approver, admin)',
    );
  });

  it('throttles the $default stage and writes JSON access logs with the request id to CloudWatch', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      // Per route: above the ingest target of 300 webhooks/s on the SMS route alone.
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
        Format: Match.stringLikeRegexp('\\$context\\.requestId'),
      },
    });
  });

  it('keeps customer data and unsubscribe tokens out of the access log: no path, query string or headers', () => {
    const stages = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'));
    expect(stages).toHaveLength(1);
    const format = String(stages[0]!.Properties?.AccessLogSettings?.Format);
    expect(format).toContain('$context.routeKey');
    for (const leak of ['$context.path', '$context.requestOverride', 'querystring', '$request.']) expect(format).not.toContain(leak);
  });
});

/**
 * The secrets each function may read, as the brief for every handler states it. Independent of
 * infra/handler-access.ts on purpose: a change there that grants a secret elsewhere fails here.
 * (test/infra/handler-access.test.ts checks the same table against what each bundle's code reads.)
 */
const expectedSecrets: Readonly<Record<string, readonly SecretName[]>> = {
  TwilioSmsWebhook: ['TWILIO_AUTH_TOKEN'],
  TwilioVoiceWebhook: ['TWILIO_AUTH_TOKEN'],
  TwilioTranscriptionWebhook: ['TWILIO_AUTH_TOKEN'],
  TwilioStatusWebhook: ['TWILIO_AUTH_TOKEN'],
  SendgridInboundWebhook: ['SENDGRID_INBOUND_SECRET'],
  SendgridEventsWebhook: ['SENDGRID_EVENT_PUBLIC_KEY'],
  ChatWebhook: ['CHAT_WEBHOOK_SECRET'],
  EmailUnsubscribe: ['UNSUBSCRIBE_SIGNING_SECRET'],
  EmailUnsubscribePage: ['UNSUBSCRIBE_SIGNING_SECRET'],
  // Twilio media URLs need the account's Basic auth.
  InboundWorkConsumer: ['TWILIO_API_KEY_SECRET'],
  OutboundSender: ['TWILIO_API_KEY_SECRET', 'SENDGRID_API_KEY', 'CHAT_WEBHOOK_SECRET', 'UNSUBSCRIBE_SIGNING_SECRET'],
};

/** The queues each function may send to; every other function sends to none. */
const expectedSends: Readonly<Record<string, readonly string[]>> = {
  TwilioSmsWebhook: ['inbound-work'],
  TwilioTranscriptionWebhook: ['inbound-work'],
  SendgridInboundWebhook: ['inbound-work'],
  ChatWebhook: ['inbound-work'],
  SubmitTemplateVersion: ['template-approvals'],
  SendMessage: ['outbound'],
  CreateBroadcast: ['outbound'],
  // A merge sweep whose request stopped before marking the merge does the merge, and queues its sweep.
  InboundWorkConsumer: ['inbound-work'],
};

const allFunctionNames = [...deployedRoutes.map((r) => r.name), ...queueConsumers.map((c) => c.name)];

describe('Function environment and grants', () => {
  it('gives staff routes the Cognito issuer, audience and JWKS URL', () => {
    for (const route of staffRoutes) {
      const env = envOf(routeFunction(route));
      expect(env['JWT_ISSUER'], route.name).toEqual({ 'Fn::GetAtt': [expect.any(String), 'ProviderURL'] });
      expect(env['JWT_AUDIENCE'], route.name).toEqual({ Ref: expect.any(String) });
      expect(JSON.stringify(env['JWT_JWKS_URL'])).toContain('/.well-known/jwks.json');
    }
  });

  it('gives staff read routes (and the preview, a POST that only renders) table read access only: no write, no queue, no secret, no bucket', () => {
    // Prepare: the issue 3 read routes are among them
    const readOnly = staffRoutes.filter((r) => r.method === 'GET' || r.name === 'PreviewTemplateVersion');
    expect(readOnly.map((r) => r.name)).toEqual(expect.arrayContaining(['GetTemplate', 'GetTemplateAudit', 'ListApprovals', 'GetCustomerConsent', 'PreviewTemplateVersion']));

    for (const route of readOnly) {
      // Act
      const actions = actionsOf(statementsOf(routeFunction(route)));

      // Assess
      expect(actions, route.name).toContain('dynamodb:Query');
      for (const forbidden of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'kms:GenerateDataKey*']) {
        expect(actions, route.name).not.toContain(forbidden);
      }
      expect(actions.filter((a) => /^(sqs|secretsmanager|s3):/.test(a)), route.name).toEqual([]);
    }
  });

  it('keeps the audit trail append-only: every function that writes the table is denied updating or deleting AUDIT# items', () => {
    for (const name of allFunctionNames) {
      const fn = functionOf(name);
      const writes = actionsOf(statementsOf(fn)).some((a) => a === 'dynamodb:UpdateItem' || a === 'dynamodb:DeleteItem' || a === 'dynamodb:BatchWriteItem');
      const auditGuard = denialsOf(fn).filter((d) => JSON.stringify(d.Condition) === JSON.stringify({ 'ForAnyValue:StringLike': { 'dynamodb:LeadingKeys': [`${AUDIT_PK_PREFIX}*`] } }));
      if (!writes) continue;
      expect(auditGuard, name).toHaveLength(1);
      expect(actionsOf(auditGuard).sort(), name).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem']);
      expect(auditGuard[0]!.Resource, name).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/Table/), 'Arn'] });
    }
    expect(allFunctionNames.filter((n) => denialsOf(functionOf(n)).length > 0).length).toBeGreaterThan(10);
  });

  it('grants exactly the table actions the data module issues: never Scan (a dump of every customer), DescribeTable or the stream', () => {
    const read = ['dynamodb:BatchGetItem', 'dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:Query'];
    const write = ['dynamodb:PutItem', 'dynamodb:UpdateItem'];
    let readers = 0;
    let writers = 0;
    const deleters: string[] = [];
    for (const name of allFunctionNames) {
      const dynamo = actionsOf(statementsOf(functionOf(name))).filter((a) => a.startsWith('dynamodb:')).sort();
      if (dynamo.length === 0) continue;
      const writes = dynamo.includes('dynamodb:PutItem');
      const deletes = dynamo.includes('dynamodb:DeleteItem');
      expect(dynamo, name).toEqual(writes ? [...read, ...write, ...(deletes ? ['dynamodb:DeleteItem'] : [])].sort() : read);
      if (deletes) deleters.push(name);
      if (writes) writers++;
      else readers++;
    }
    expect(readers).toBeGreaterThan(5);
    expect(writers).toBeGreaterThan(10);
    // DeleteItem only where the code deletes (test/infra/handler-access.test.ts holds that to the bundles).
    expect(deleters.sort()).toEqual(['ApproveTemplateVersion', 'ChatWebhook', 'InboundWorkConsumer', 'RejectTemplateVersion']);
  });

  it('grants DeleteItem only under the partitions each deleter deletes in (never a customer’s items: a deleted consent item opts back in), and the one thread index by name', () => {
    const deletesUnder: Record<string, unknown> = {};
    for (const name of allFunctionNames) {
      const statements = statementsOf(functionOf(name));
      for (const statement of statements.filter((s) => [s.Action].flat().some((a) => String(a).startsWith('dynamodb:')))) {
        const actions = [statement.Action].flat();
        if (actions.includes('dynamodb:DeleteItem')) {
          expect(actions, name).toEqual(['dynamodb:DeleteItem']);
          expect(statement.Resource, name).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/Table/), 'Arn'] });
          deletesUnder[name] = (statement as { Condition?: Record<string, Record<string, unknown>> }).Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'];
        } else {
          const indexes = [statement.Resource].flat().filter((r) => JSON.stringify(r).includes('/index/'));
          expect(JSON.stringify(indexes), name).toMatch(/\/index\/lsi1"/);
          expect(JSON.stringify(indexes), name).not.toContain('*');
        }
      }
    }
    expect(deletesUnder).toEqual({ ApproveTemplateVersion: ['APPROVALS'], RejectTemplateVersion: ['APPROVALS'], ChatWebhook: ['CONV#*'], InboundWorkConsumer: ['CONV#*'] });
  });

  it('lets staff POST routes write the table (except the preview, which only renders)', () => {
    for (const route of staffRoutes.filter((r) => r.method === 'POST' && r.name !== 'PreviewTemplateVersion')) {
      expect(actionsOf(statementsOf(routeFunction(route))), route.name).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:UpdateItem']));
    }
  });

  it('lets each function read exactly its own secrets, named by <NAME>_SECRET_ARN', () => {
    for (const name of allFunctionNames) {
      // Act
      const fn = functionOf(name);
      const env = envOf(fn);
      const secretStatements = statementsOf(fn).filter((s) => actionsOf([s]).includes('secretsmanager:GetSecretValue'));
      const expected = [...(expectedSecrets[name] ?? [])].sort();

      // Assess
      expect(Object.keys(env).filter((k) => k.endsWith('_SECRET_ARN')).sort(), name).toEqual(expected.map((s) => `${s}_SECRET_ARN`));
      for (const secret of expected) expect(env[`${secret}_SECRET_ARN`], name).toEqual({ Ref: secretIdOf(secret) });
      expect(resourcesOf(secretStatements), name).toEqual(resourcesOf([{ Effect: 'Allow', Action: [], Resource: expected.map((s) => ({ Ref: secretIdOf(s) })) }]));
    }
  });

  it('lets each function send only to its own queues, whose URLs it gets as <QUEUE>_QUEUE_URL', () => {
    for (const name of allFunctionNames) {
      // Act
      const fn = functionOf(name);
      const sendStatements = statementsOf(fn).filter((s) => actionsOf([s]).includes('sqs:SendMessage'));
      const expected = expectedSends[name] ?? [];

      // Assess
      expect(resourcesOf(sendStatements), name).toEqual(resourcesOf([{ Effect: 'Allow', Action: [], Resource: expected.map((q) => ({ 'Fn::GetAtt': [queueIdOf(q), 'Arn'] })) }]));
      for (const queue of expected) {
        expect(envOf(fn)[`${queue.replace(/-/g, '_').toUpperCase()}_QUEUE_URL`], name).toEqual({ Ref: queueIdOf(queue) });
      }
    }
  });

  it('gives the FIFO producers the URLs of submit → template-approvals and send/broadcast → outbound', () => {
    expect(envOf(functionOf('SubmitTemplateVersion'))['TEMPLATE_APPROVALS_QUEUE_URL']).toEqual({ Ref: queueIdOf('template-approvals') });
    expect(envOf(functionOf('SendMessage'))['OUTBOUND_QUEUE_URL']).toEqual({ Ref: queueIdOf('outbound') });
    expect(envOf(functionOf('CreateBroadcast'))['OUTBOUND_QUEUE_URL']).toEqual({ Ref: queueIdOf('outbound') });
  });

  it('lets every webhook know the public URL, and only the ingest webhooks hand work to inbound-work', () => {
    for (const route of webhookRoutes) {
      const env = envOf(routeFunction(route));
      expect(env['PUBLIC_BASE_URL'], route.name).toEqual({ 'Fn::GetAtt': [expect.any(String), 'ApiEndpoint'] });
      expect(actionsOf(statementsOf(routeFunction(route))), route.name).not.toContain('sqs:ReceiveMessage');
    }
    const ingesting = webhookRoutes.filter((r) => envOf(routeFunction(r))['INBOUND_WORK_QUEUE_URL'] !== undefined).map((r) => r.name);
    expect(ingesting.sort()).toEqual(['ChatWebhook', 'SendgridInboundWebhook', 'TwilioSmsWebhook', 'TwilioTranscriptionWebhook']);
  });

  it('maps every webhook to its secret by entry file', () => {
    const secretOf = (name: string) => accessForRoute(webhookRoutes.find((r) => r.name === name)!).secrets;
    expect(secretOf('TwilioSmsWebhook')).toEqual(['TWILIO_AUTH_TOKEN']);
    expect(secretOf('TwilioVoiceWebhook')).toEqual(['TWILIO_AUTH_TOKEN']);
    expect(secretOf('TwilioTranscriptionWebhook')).toEqual(['TWILIO_AUTH_TOKEN']);
    expect(secretOf('TwilioStatusWebhook')).toEqual(['TWILIO_AUTH_TOKEN']);
    expect(secretOf('SendgridInboundWebhook')).toEqual(['SENDGRID_INBOUND_SECRET']);
    expect(secretOf('SendgridEventsWebhook')).toEqual(['SENDGRID_EVENT_PUBLIC_KEY']);
    expect(secretOf('ChatWebhook')).toEqual(['CHAT_WEBHOOK_SECRET']);
    expect(secretOf('EmailUnsubscribe')).toEqual(['UNSUBSCRIBE_SIGNING_SECRET']);
  });

  it('lets only SendGrid Inbound and the inbound-work consumer write attachments', () => {
    const writers = resourcesOfType('AWS::Lambda::Function')
      .filter((fn) => actionsOf(statementsOf(fn)).includes('s3:PutObject'))
      .map(([, fn]) => fn.Properties?.['Description'])
      .sort();
    expect(writers).toEqual(['Consumes the inbound-work queue', 'POST /webhooks/sendgrid/inbound']);
    for (const description of writers) expect(envOf(functionFor(description))['ATTACHMENTS_BUCKET']).toEqual({ Ref: expect.any(String) });
  });

  it('lets each consumer consume its own queue (receive, delete, postpone), knowing its URL, sending to it only where the access table says why', () => {
    for (const consumer of queueConsumers) {
      // Act
      const fn = consumerFunction(consumer);
      const { queueId } = queueIdsOf(consumer);
      const consume = statementsOf(fn).filter((s) => actionsOf([s]).includes('sqs:ReceiveMessage'));

      // Assess
      expect(resourcesOf(consume), consumer.name).toEqual([{ 'Fn::GetAtt': [queueId, 'Arn'] }]);
      expect(actionsOf(consume), consumer.name).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']));
      expect(actionsOf(statementsOf(fn)), consumer.name).toEqual(expect.arrayContaining(['dynamodb:PutItem']));
      if (!(expectedSends[consumer.name] ?? []).includes(consumer.queue)) expect(actionsOf(statementsOf(fn)), consumer.name).not.toContain('sqs:SendMessage');
      expect(envOf(fn)[`${consumer.queue.replace(/-/g, '_').toUpperCase()}_QUEUE_URL`], consumer.name).toEqual({ Ref: queueId });
    }
  });

  it('refuses to deploy a webhook without a known provider secret, a staff route without roles, or an unknown consumer', () => {
    const fax: HttpRoute = { name: 'Fax', method: 'POST', path: '/webhooks/fax', entry: 'functions/http/fax.ts', auth: 'webhook' };
    const open: HttpRoute = { name: 'Open', method: 'GET', path: '/open', entry: 'functions/http/open.ts', auth: 'staff' };
    const mystery: QueueConsumer = { name: 'Mystery', queue: 'mystery', entry: 'functions/sqs/mystery.ts', batchSize: 1 };
    expect(() => accessForRoute(fax)).toThrow(/no provider secret/);
    expect(() => accessForRoute(open)).toThrow(/declares no roles/);
    expect(() => accessForConsumer(mystery)).toThrow(/no access profile/);
  });
});

describe('Deploy-time settings', () => {
  const parameters = (): Record<string, { Type: string; Default?: unknown; AllowedPattern?: string; MinValue?: number }> => template.toJSON().Parameters ?? {};

  /** Who reads which setting (infra/handler-access.ts; test/infra/handler-access.test.ts holds it to the code). */
  const readers: Readonly<Record<StackSettingName, readonly string[]>> = {
    TWILIO_ACCOUNT_SID: ['OutboundSender'],
    TWILIO_API_KEY_SID: ['InboundWorkConsumer', 'OutboundSender'],
    TWILIO_FROM_NUMBER: ['OutboundSender'],
    EMAIL_FROM: ['OutboundSender'],
    CHAT_DELIVERY_URL: ['OutboundSender'],
    SMS_HELP_TEXT: ['TwilioSmsWebhook'],
    VOICE_HUMAN_CONTACT: ['TwilioVoiceWebhook'],
    BROADCAST_RATE_SMS_PER_SECOND: ['CreateBroadcast'],
    BROADCAST_RATE_EMAIL_PER_SECOND: ['CreateBroadcast'],
    BROADCAST_RATE_CHAT_PER_SECOND: ['CreateBroadcast'],
    BROADCAST_RATE_VOICE_PER_SECOND: ['CreateBroadcast'],
  };

  it('takes each setting as a CloudFormation parameter with no default', () => {
    // Assess
    expect(Object.keys(parameters()).filter((p) => !p.startsWith('BootstrapVersion')).sort()).toEqual(stackSettingNames.map(parameterName).sort());
    for (const [name, parameter] of Object.entries(parameters())) {
      if (name === 'BootstrapVersion') continue;
      expect(parameter.Default, name).toBeUndefined();
    }
    expect(parameters()['BroadcastRateVoicePerSecond']).toMatchObject({ Type: 'Number', MinValue: expect.any(Number) });
  });

  it('hands each setting only to the functions that read it, under its own name', () => {
    for (const setting of stackSettingNames) {
      const withIt = allFunctionNames.filter((name) => envOf(functionOf(name))[setting] !== undefined);
      expect(withIt.sort(), setting).toEqual([...readers[setting]].sort());
      for (const name of withIt) expect(envOf(functionOf(name))[setting], `${name} ${setting}`).toEqual({ Ref: parameterName(setting) });
    }
  });

  it.each([
    ['TwilioAccountSid', `AC${'0a'.repeat(16)}`, 'AC123'],
    ['TwilioApiKeySid', `SK${'f1'.repeat(16)}`, `AC${'0a'.repeat(16)}`],
    ['TwilioFromNumber', '+14155550100', '4155550100'],
    ['EmailFrom', 'support@example.com', 'Support <support@example.com>'],
    ['ChatDeliveryUrl', 'https://chat.example.com/deliveries', 'http://chat.example.com/deliveries'],
  ])('%s accepts %s (or empty: channel not configured) and refuses %s', (name, good, bad) => {
    const pattern = new RegExp(parameters()[name]!.AllowedPattern!);
    expect(pattern.test(good)).toBe(true);
    expect(pattern.test('')).toBe(true);
    expect(pattern.test(bad)).toBe(false);
  });
});

describe('DynamoDB table', () => {
  it('matches the shared schema, on demand, with PITR, KMS encryption, TTL and deletion protection', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: tableSchema.partitionKey, KeyType: 'HASH' },
          { AttributeName: tableSchema.sortKey, KeyType: 'RANGE' },
        ],
        LocalSecondaryIndexes: [
          {
            IndexName: tableSchema.threadIndex.name,
            KeySchema: [
              { AttributeName: tableSchema.partitionKey, KeyType: 'HASH' },
              { AttributeName: tableSchema.threadIndex.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        DeletionProtectionEnabled: true,
      },
    });
  });
});

describe('request size', () => {
  it('keeps the largest body our handlers accept inside a Lambda request payload once API Gateway base64-encodes it (a larger one would fail the invocation, not get our 413)', () => {
    const LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1000 * 1000; // "6 MB", read as the smaller of MB and MiB
    const EVENT_ENVELOPE_BYTES = 64 * 1024; // headers, request context, query: generous
    expect(Math.ceil(MAX_BODY_BYTES / 3) * 4 + EVENT_ENVELOPE_BYTES).toBeLessThanOrEqual(LAMBDA_SYNC_PAYLOAD_BYTES);
  });
});

describe('SQS', () => {
  it('alarms on every DLQ holding a message, notifying one KMS-encrypted, TLS-only SNS topic that the stack outputs', () => {
    const [topicId, topic] = resourcesOfType('AWS::SNS::Topic')[0]!;
    expect(resourcesOfType('AWS::SNS::Topic')).toHaveLength(1);
    expect(topic.Properties).toMatchObject({ KmsMasterKeyId: expect.anything() });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    const alarms = resourcesOfType('AWS::CloudWatch::Alarm');
    for (const consumer of queueConsumers) {
      const { dlqId } = queueIdsOf(consumer);
      const watching = alarms.filter(([, a]) => JSON.stringify(a.Properties?.['Dimensions'] ?? []).includes(dlqId));
      expect(watching, consumer.name).toHaveLength(1);
      expect(watching[0]![1].Properties).toMatchObject({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: topicId }],
      });
    }
    expect(alarms).toHaveLength(queueConsumers.length);
    expect(template.toJSON().Outputs?.DeadLetterAlarmTopicArn?.Value).toEqual({ Ref: topicId });
    // The topic lets this account's alarms publish (enforceSSL's policy replaces SNS's default one)…
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: { Ref: topicId },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } }, ArnLike: { 'aws:SourceArn': Match.anyValue() } },
          }),
        ]),
      },
    });
    // …and CloudWatch may use the data key to publish to the encrypted topic, for this account only.
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } }),
        ]),
      },
    });
  });

  it('gives each consumer queue a KMS-encrypted DLQ after 5 receives (the outbound queue 50: its jobs wait behind retried ones, untried) and reports partial batch failures', () => {
    for (const consumer of queueConsumers) {
      // Prepare
      const { queueId, dlqId } = queueIdsOf(consumer);

      // Assess
      const maxReceiveCount = consumer.queue === 'inbound-work' ? 5 : 50;
      expect(resources[queueId]?.Properties).toMatchObject({ KmsMasterKeyId: expect.anything(), RedrivePolicy: { maxReceiveCount } });
      expect(resources[dlqId]?.Properties).toMatchObject({ KmsMasterKeyId: expect.anything() });
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
        BatchSize: consumer.batchSize,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
  });

  it('makes template-approvals and outbound FIFO queues with FIFO DLQs, producer-chosen deduplication ids and batches of at most 10', () => {
    // Prepare
    const fifoConsumers = queueConsumers.filter((c) => c.fifo);
    expect(fifoConsumers.map((c) => c.queue).sort()).toEqual(['outbound', 'template-approvals']);

    for (const consumer of fifoConsumers) {
      // Act
      const { queueId, dlqId } = queueIdsOf(consumer);
      const mapping = resourcesOfType('AWS::Lambda::EventSourceMapping').find(([, m]) => m.Properties?.['EventSourceArn']['Fn::GetAtt'][0] === queueId)!;

      // Assess
      expect(resources[queueId]?.Properties, consumer.queue).toMatchObject({
        QueueName: `${stackName}-${consumer.queue}.fifo`,
        FifoQueue: true,
        ContentBasedDeduplication: false,
      });
      expect(resources[dlqId]?.Properties, consumer.queue).toMatchObject({
        QueueName: `${stackName}-${consumer.queue}-dlq.fifo`,
        FifoQueue: true,
        KmsMasterKeyId: expect.anything(),
      });
      expect(mapping[1].Properties?.['BatchSize'], consumer.queue).toBeLessThanOrEqual(10);
      expect(mapping[1].Properties?.['MaximumBatchingWindowInSeconds'], consumer.queue).toBeUndefined();
    }
    for (const consumer of queueConsumers.filter((c) => !c.fifo)) {
      expect(resources[queueIdsOf(consumer).queueId]?.Properties?.['FifoQueue'], consumer.queue).toBeUndefined();
    }
  });

  it('refuses a FIFO consumer batch larger than 10', () => {
    const tooBig: QueueConsumer = { name: 'TooBig', queue: 'outbound', entry: 'functions/sqs/send-outbound.ts', batchSize: 11, fifo: true };
    expect(() => new OmnichannelStack(new App({ context: cdkContext }), 'TooBig', { routes: [], consumers: [tooBig], skipBundling: true })).toThrow(/batch size 11/);
  });

  it('denies non-TLS access to every queue', () => {
    const policies = resourcesOfType('AWS::SQS::QueuePolicy');
    const protectedQueues = new Set(policies.flatMap(([, p]) => [...referencedIds(p.Properties?.['Queues'])]));
    for (const [id] of resourcesOfType('AWS::SQS::Queue')) expect(protectedQueues, id).toContain(id);
    for (const [, policy] of policies) {
      expect(policy.Properties?.['PolicyDocument'].Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });
});

describe('S3, secrets, Cognito, outputs', () => {
  it('keeps attachments private, KMS-encrypted, versioned, access-logged and TLS-only', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [Match.objectLike({ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() } })] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue() },
    });
    for (const [, policy] of resourcesOfType('AWS::S3::BucketPolicy')) {
      expect(policy.Properties?.['PolicyDocument'].Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('creates one secret per provider secret', () => {
    const names = resourcesOfType('AWS::SecretsManager::Secret').map(([, s]) => s.Properties?.['Name']).sort();
    expect(names).toEqual(
      [
        'CHAT_WEBHOOK_SECRET',
        'SENDGRID_API_KEY',
        'SENDGRID_EVENT_PUBLIC_KEY',
        'SENDGRID_INBOUND_SECRET',
        'TWILIO_API_KEY_SECRET',
        'TWILIO_AUTH_TOKEN',
        'UNSUBSCRIBE_SIGNING_SECRET',
      ].map((n) => `${stackName}/${n}`),
    );
  });

  it('hardens the staff user pool and creates the four role groups', () => {
    template.hasResourceProperties('AWS::Cognito::UserPool', {
      MfaConfiguration: 'ON',
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      Policies: { PasswordPolicy: Match.objectLike({ RequireSymbols: true, RequireNumbers: true, RequireUppercase: true }) },
    });
    const groups = resourcesOfType('AWS::Cognito::UserPoolGroup').map(([, g]) => g.Properties?.['GroupName']).sort();
    expect(groups).toEqual(['admin', 'agent', 'approver', 'editor']);
  });

  it('outputs what an operator needs', () => {
    const outputs = Object.keys(template.toJSON().Outputs);
    expect(outputs).toEqual(
      expect.arrayContaining([
        'ApiUrl',
        'TableName',
        'UserPoolId',
        'UserPoolClientId',
        'TwilioAuthTokenSecretArn',
        'SendgridInboundSecretSecretArn',
        'SendgridEventPublicKeySecretArn',
        'ChatWebhookSecretSecretArn',
        'TwilioApiKeySecretSecretArn',
        'SendgridApiKeySecretArn',
        'UnsubscribeSigningSecretSecretArn',
      ]),
    );
  });
});

describe('Template integrity', () => {
  it('has no dependency cycle (functions know the API URL, the API calls the functions)', () => {
    // Prepare
    const edges = new Map(
      Object.entries(resources).map(([id, r]) => [
        id,
        [...referencedIds(r.Properties), ...[r.DependsOn ?? []].flat()].filter((dep) => dep in resources && dep !== id),
      ]),
    );
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[][] = [];
    const visit = (id: string, path: string[]) => {
      if (state.get(id) === 'done') return;
      if (state.get(id) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(id)), id]);
        return;
      }
      state.set(id, 'visiting');
      for (const dep of edges.get(id) ?? []) visit(dep, [...path, id]);
      state.set(id, 'done');
    };

    // Act
    for (const id of edges.keys()) visit(id, []);

    // Assess
    expect(cycles).toEqual([]);
  });

  it('fails the synth, naming the file, when a handler entry does not exist', () => {
    const ghost: HttpRoute = { name: 'Ghost', method: 'GET', path: '/ghost', entry: 'functions/http/ghost.ts', auth: 'staff' };
    expect(() => new OmnichannelStack(new App({ context: cdkContext }), 'Ghost', { routes: [ghost], consumers: [] })).toThrow(
      /functions\/http\/ghost\.ts/,
    );
  });
});

describe('cdk-nag', () => {
  it('reports no AwsSolutions error or warning: every finding is fixed or acknowledged with a reason', () => {
    // Act
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);

    // Assess
    const findings = report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });
});
