import { Duration, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export type DeadLetterAlarmsProps = {
  /** Encrypts the topic: alarm notifications name queues, and CloudWatch may use the key to publish. */
  readonly encryptionKey: IKey;
};

/**
 * Tells operators when a job lands in a dead-letter queue: one CloudWatch alarm per DLQ (any message
 * visible, checked every 5 minutes) notifying one SNS topic, which on-call subscribes to (email, chat,
 * paging). A job in a DLQ is work that stopped: a media copy, a pending-approval entry, or a send whose
 * message stays `queued` until someone redrives it.
 *
 * @example
 * ```ts
 * const alarms = new DeadLetterAlarms(this, 'DeadLetterAlarms', { encryptionKey });
 * alarms.watch('Outbound', outboundDlq);
 * ```
 */
export class DeadLetterAlarms extends Construct {
  readonly topic: Topic;
  private readonly action: SnsAction;

  constructor(scope: Construct, id: string, props: DeadLetterAlarmsProps) {
    super(scope, id);
    this.topic = new Topic(this, 'Topic', {
      displayName: 'Omnichannel support: jobs in a dead-letter queue',
      masterKey: props.encryptionKey,
      enforceSSL: true,
    });
    const account = Stack.of(this).account;
    // The topic's policy (enforceSSL replaces SNS's default one) must let CloudWatch alarms of this account
    // publish: they publish as the service, not as an IAM principal of the account.
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': account }, ArnLike: { 'aws:SourceArn': `arn:${Stack.of(this).partition}:cloudwatch:${Stack.of(this).region}:${account}:alarm:*` } },
      }),
    );
    // And publish to an encrypted topic only when the key lets them (not with the AWS-managed SNS key);
    // for this account's alarms only.
    props.encryptionKey.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': account } },
      }),
    );
    this.action = new SnsAction(this.topic);
  }

  /** An alarm on `queue` (a DLQ): in alarm while it holds any message. */
  watch(name: string, queue: IQueue): Alarm {
    const alarm = new Alarm(this, `${name}Alarm`, {
      alarmDescription: `Jobs in the ${name} dead-letter queue: they stopped and wait for a redrive (see README, Deploy).`,
      metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(this.action);
    return alarm;
  }
}
