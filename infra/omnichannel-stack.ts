import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { AUDIT_PK_PREFIX } from '#shared/data/keys.ts';
import { tableSchema } from '#shared/data/table-schema.ts';
import { consumerTimeoutSeconds, httpRoutes, queueConsumers, routeTimeoutSeconds, type HttpRoute, type QueueConsumer } from '#shared/routes.ts';
import { AttachmentsBucket } from '#infra/constructs/attachments-bucket.ts';
import { ConversationTable } from '#infra/constructs/conversation-table.ts';
import { HandlerFunction, projectRoot } from '#infra/constructs/handler-function.ts';
import { MessagingHttpApi } from '#infra/constructs/http-api.ts';
import { ProviderSecrets } from '#infra/constructs/provider-secrets.ts';
import { StackSettings } from '#infra/constructs/stack-settings.ts';
import { StaffUserPool } from '#infra/constructs/staff-user-pool.ts';
import { DeadLetterAlarms } from '#infra/constructs/dead-letter-alarms.ts';
import { WorkQueue } from '#infra/constructs/work-queue.ts';
import { accessForConsumer, accessForRoute, queueUrlEnvName, type HandlerAccess } from '#infra/handler-access.ts';

export type OmnichannelStackProps = StackProps & {
  /** HTTP routes to deploy (those with auth `dev` are skipped). Defaults to `shared/routes.ts`. */
  readonly routes?: readonly HttpRoute[];
  /** Queue consumers to deploy. Defaults to `shared/routes.ts`. */
  readonly consumers?: readonly QueueConsumer[];
  /**
   * The base URL providers call, when a custom domain fronts the API (Twilio signs the exact URL it
   * called). Defaults to the API's own `execute-api` endpoint.
   */
  readonly publicBaseUrl?: string;
  /** Default-stage throttling. Defaults to {@link DEFAULT_ROUTE_THROTTLE} (1000 requests/s steady, bursts of 2000). */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * Use placeholder code instead of bundling handlers: for template assertions, which check the
   * template, not the bundle. See {@link HandlerFunction}.
   */
  readonly skipBundling?: boolean;
};

/**
 * API Gateway's throttle per route (HTTP APIs apply the stage's default route settings to each route on
 * its own): room for the ingest target of 300 webhooks/s on one route, and the bursts a broadcast's
 * status callbacks bring, under the account's 10,000/s. Twilio does not retry an SMS webhook answered 429.
 */
export const DEFAULT_ROUTE_THROTTLE = { rateLimit: 1000, burstLimit: 2000 } as const;

/** SQS event source mappings on FIFO queues take at most 10 messages per batch. */
const maxFifoBatchSize = 10;

/** What the data module issues to read: single and batched gets, queries (the thread index too), and transactions' checks. */
const tableReadActions = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'];
/** And to write: conditional puts and updates, alone or inside TransactWriteItems. */
const tableWriteActions = ['dynamodb:PutItem', 'dynamodb:UpdateItem'];
/** Deletes, for the handlers whose code deletes (`readWriteDelete`). */
const tableDeleteActions = ['dynamodb:DeleteItem'];

/** The table actions of an access level, but its deletes (granted apart, under conditions). */
function tableActions(level: Exclude<HandlerAccess['table'], 'readWriteDelete'>): string[] {
  if (level === 'read') return tableReadActions;
  if (level === 'readWrite') return [...tableReadActions, ...tableWriteActions];
  return [];
}


/**
 * The whole backend: the HTTP API (provider webhooks + staff API behind Cognito), one Lambda per route
 * and per queue consumer, the single DynamoDB table, the work queues with their DLQs (FIFO for
 * template approvals and outbound sends), the attachments bucket and the provider secrets. Every
 * handler gets exactly the access {@link accessForRoute} / {@link accessForConsumer} describe.
 *
 * Deploy-time settings (Twilio account and API key SIDs, sender number and address, chat delivery
 * URL, SMS HELP text, broadcast rates) are CloudFormation parameters without defaults: see
 * {@link StackSettings}. Routes with auth `dev` (the local outbox) are never deployed.
 *
 * Encryption: customer data (table, queues, attachments) is encrypted with one customer-managed KMS key
 * rather than AWS-managed keys. This is regulated customer support: the key policy is a second,
 * independent gate on every read, each use of the key is attributable in CloudTrail, and disabling the
 * key makes all the data unreadable at once. The cost is a dollar a month plus requests, kept low by
 * the S3 bucket key and SQS data-key reuse. Secrets keep the Secrets Manager AWS-managed key: they are
 * provider credentials, not customer data, and are already gated per secret by IAM.
 *
 * @example
 * ```ts
 * new OmnichannelStack(app, 'OmnichannelSupport');
 * ```
 */
export class OmnichannelStack extends Stack {
  constructor(scope: Construct, id: string, props: OmnichannelStackProps = {}) {
    super(scope, id, props);
    const routes = (props.routes ?? httpRoutes).filter((r) => r.auth !== 'dev');
    const consumers = props.consumers ?? queueConsumers;
    if (!props.skipBundling) assertEntriesExist([...routes, ...consumers]);

    const dataKey = new Key(this, 'DataKey', {
      description: `${this.stackName}: customer data at rest (table, queues, attachments)`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const { table } = new ConversationTable(this, 'Conversations', { encryptionKey: dataKey });
    const attachments = new AttachmentsBucket(this, 'Attachments', { encryptionKey: dataKey });
    const secrets = new ProviderSecrets(this, 'Secrets');
    const staff = new StaffUserPool(this, 'Staff');
    const api = new MessagingHttpApi(this, 'Api', props.throttle ?? DEFAULT_ROUTE_THROTTLE);
    const publicBaseUrl = props.publicBaseUrl ?? api.apiEndpoint;
    const settings = new StackSettings(this);

    const staffAuthorizer = new HttpJwtAuthorizer('StaffJwtAuthorizer', staff.issuerUrl, {
      jwtAudience: [staff.client.userPoolClientId],
      identitySource: ['$request.header.Authorization'],
    });

    const queues = new Map<string, Queue>();
    const queueNamed = (name: string): Queue => {
      const queue = queues.get(name);
      if (!queue) throw new Error(`No queue consumer declares queue ${name} (shared/routes.ts queueConsumers)`);
      return queue;
    };

    const deadLetterAlarms = new DeadLetterAlarms(this, 'DeadLetterAlarms', { encryptionKey: dataKey });
    for (const consumer of consumers) {
      if (consumer.fifo && consumer.batchSize > maxFifoBatchSize) {
        throw new Error(`Consumer ${consumer.name}: batch size ${consumer.batchSize} exceeds ${maxFifoBatchSize}, the most a FIFO queue's event source takes`);
      }
      const { queue, deadLetterQueue } = new WorkQueue(this, `${consumer.name}Queue`, {
        queueName: `${this.stackName}-${consumer.queue}`,
        fifo: consumer.fifo ?? false,
        ...(consumer.maxReceiveCount !== undefined ? { maxReceiveCount: consumer.maxReceiveCount } : {}),
        encryptionKey: dataKey,
        consumerTimeout: Duration.seconds(consumerTimeoutSeconds(consumer)),
      });
      deadLetterAlarms.watch(consumer.name, deadLetterQueue);
      queues.set(consumer.queue, queue);
    }

    const bucketLogicalId = this.getLogicalId(attachments.bucket.node.defaultChild as CfnBucket);

    /** Environment variables that go with an access profile (names from the handler contract). */
    const environmentFor = (access: HandlerAccess): Record<string, string> => {
      const env: Record<string, string> = access.table === 'none' ? {} : { TABLE_NAME: table.tableName };
      for (const name of access.secrets) env[`${name}_SECRET_ARN`] = secrets.secret(name).secretArn;
      for (const queue of access.enqueue) env[queueUrlEnvName(queue)] = queueNamed(queue).queueUrl;
      if (access.consumes !== undefined) env[queueUrlEnvName(access.consumes)] = queueNamed(access.consumes).queueUrl;
      for (const name of access.settings) env[name] = settings.value(name);
      if (access.putAttachments) env['ATTACHMENTS_BUCKET'] = attachments.bucket.bucketName;
      if (access.publicBaseUrl) env['PUBLIC_BASE_URL'] = publicBaseUrl;
      if (access.staffJwt) {
        env['JWT_ISSUER'] = staff.issuerUrl;
        env['JWT_AUDIENCE'] = staff.client.userPoolClientId;
        env['JWT_JWKS_URL'] = staff.jwksUrl;
      }
      return env;
    };

    /** IAM grants for an access profile; each wildcard a grant implies is acknowledged on the role, next to the grant. */
    const grant = (handler: HandlerFunction, access: HandlerAccess): void => {
      const fn = handler.function;
      const acknowledge = (finding: string, reason: string) =>
        Validations.of(handler.role).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason });

      // Writing anything encrypted with the data key (table items, queue messages, objects) needs new
      // data keys from it; CDK's grants express that as these two action families on that one key.
      const acknowledgeDataKeyWrites = () => {
        const reason =
          'Encrypting writes with the customer-managed data key: GenerateDataKey*/ReEncrypt* as granted by CDK for KMS-encrypted tables, queues and buckets, on the data key ARN only.';
        acknowledge('Action::kms:GenerateDataKey*', reason);
        acknowledge('Action::kms:ReEncrypt*', reason);
      };

      if (access.table !== 'none') {
        // The data-plane actions the code issues, not CDK's grantRead*/grantReadWrite* (which add Scan,
        // DescribeTable and the stream actions: a Scan dumps every customer without knowing a key).
        // Transactions are authorized per item action (ConditionCheckItem for their checks).
        fn.addToRolePolicy(
          new PolicyStatement({
            effect: Effect.ALLOW,
            actions: tableActions(access.table === 'readWriteDelete' ? 'readWrite' : access.table),
            resources: [table.tableArn, `${table.tableArn}/index/${tableSchema.threadIndex.name}`],
          }),
        );
        if (access.table === 'readWriteDelete') {
          // Deletes only under the partitions this handler's code deletes in (alone or in a transaction:
          // IAM checks each item's key), never a customer's items (a deleted consent item opts back in).
          if (!access.deletesUnder?.length) throw new Error(`${handler.node.id} may delete but names no partitions it deletes under (deletesUnder)`);
          fn.addToRolePolicy(
            new PolicyStatement({
              effect: Effect.ALLOW,
              actions: tableDeleteActions,
              resources: [table.tableArn],
              conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...access.deletesUnder] } },
            }),
          );
        }
        if (access.table === 'read') {
          dataKey.grantDecrypt(fn);
        } else {
          dataKey.grantEncryptDecrypt(fn);
          acknowledgeDataKeyWrites();
        }
        if (access.table === 'readWrite' || access.table === 'readWriteDelete') {
          // The audit trail is never updated or deleted, whatever the code does. Entries are created by a
          // conditional Put (attribute_not_exists) in the transaction that makes the change; IAM cannot
          // require that condition, so overwriting an entry with a Put is prevented by the data module's
          // code only, not by IAM.
          fn.addToRolePolicy(
            new PolicyStatement({
              effect: Effect.DENY,
              actions: ['dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'], // BatchWriteItem: never granted, denied all the same
              resources: [table.tableArn],
              conditions: { 'ForAnyValue:StringLike': { 'dynamodb:LeadingKeys': [`${AUDIT_PK_PREFIX}*`] } },
            }),
          );
        }
      }

      for (const name of access.secrets) secrets.secret(name).grantRead(fn);

      for (const queue of access.enqueue) {
        queueNamed(queue).grantSendMessages(fn);
        acknowledgeDataKeyWrites();
      }

      if (access.putAttachments) {
        attachments.bucket.grantPut(fn);
        acknowledgeDataKeyWrites();
        acknowledge(
          `Resource::<${bucketLogicalId}.Arn>/*`,
          'Writes attachment objects under generated keys anywhere in this one bucket; no read, list or delete.',
        );
        acknowledge(
          'Action::s3:Abort*',
          'Only s3:AbortMultipartUpload matches: lets the handler abort its own failed multipart uploads in this one bucket.',
        );
      }
    };

    for (const consumer of consumers) {
      const access = accessForConsumer(consumer);
      const handler = new HandlerFunction(this, consumer.name, {
        entry: consumer.entry,
        description: `Consumes the ${consumer.queue} queue`,
        timeout: Duration.seconds(consumerTimeoutSeconds(consumer)),
        environment: environmentFor(access),
        skipBundling: props.skipBundling,
      });
      grant(handler, access);
      // The event source grants receive/delete/change-visibility (and KMS decrypt) on this queue only.
      handler.function.addEventSource(
        new SqsEventSource(queueNamed(consumer.queue), { batchSize: consumer.batchSize, reportBatchItemFailures: true }),
      );
    }

    for (const route of routes) {
      const access = accessForRoute(route);
      const handler = new HandlerFunction(this, route.name, {
        entry: route.entry,
        description: routeFunctionDescription(route),
        timeout: Duration.seconds(routeTimeoutSeconds(route)),
        environment: environmentFor(access),
        skipBundling: props.skipBundling,
      });
      grant(handler, access);
      api.addLambdaRoute(route, handler.function, route.auth === 'staff' ? staffAuthorizer : undefined);
    }

    new CfnOutput(this, 'ApiUrl', { value: publicBaseUrl, description: 'Base URL to give providers and staff clients' });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'DeadLetterAlarmTopicArn', {
      value: deadLetterAlarms.topic.topicArn,
      description: 'SNS topic notified when a job lands in a dead-letter queue: subscribe on-call to it',
    });
    new CfnOutput(this, 'AttachmentsBucketName', { value: attachments.bucket.bucketName });
    new CfnOutput(this, 'UserPoolId', { value: staff.userPool.userPoolId });
    new CfnOutput(this, 'UserPoolClientId', { value: staff.client.userPoolClientId });
    for (const [name, secret] of secrets.entries()) {
      new CfnOutput(this, `${pascalCase(name)}SecretArn`, {
        value: secret.secretArn,
        description: `Secrets Manager secret holding ${name}`,
      });
    }
  }
}

/**
 * A route function's description: method and path, and for staff routes who may call it (the API
 * Gateway JWT authorizer checks the token; the handler checks these roles, admin always passing).
 *
 * @example
 * ```ts
 * routeFunctionDescription({ name: 'ListApprovals', method: 'GET', path: '/approvals', entry: '…', auth: 'staff', roles: ['approver'] });
 * // 'GET /approvals (staff: approver, admin)'
 * ```
 */
export function routeFunctionDescription(route: HttpRoute): string {
  if (route.auth !== 'staff') return `${route.method} ${route.path}`;
  const roles = [...new Set([...(route.roles ?? []), 'admin'])];
  return `${route.method} ${route.path} (staff: ${roles.join(', ')})`;
}

/** Fails the synth naming every missing handler at once, rather than deploying without it. */
function assertEntriesExist(handlers: ReadonlyArray<{ readonly name: string; readonly entry: string }>): void {
  const missing = handlers.filter((h) => !existsSync(join(projectRoot, h.entry)));
  if (missing.length > 0) {
    throw new Error(`Missing handler entry files (nothing to bundle): ${missing.map((h) => `${h.entry} (${h.name})`).join(', ')}`);
  }
}

function pascalCase(snake: string): string {
  return snake
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}
