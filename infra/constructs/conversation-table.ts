import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { tableSchema } from '#shared/data/table-schema.ts';

export type ConversationTableProps = {
  /** Customer-managed key encrypting the table (see the stack for why not the AWS-owned key). */
  readonly encryptionKey: IKey;
};

/**
 * The single table, shaped by `shared/data/table-schema.ts` exactly as the local stack creates it:
 * pk/sk strings, the thread LSI ordering messages by time, on-demand capacity, TTL for retention rules.
 * Customer messages live here, so it survives stack deletion and cannot be deleted by accident.
 *
 * @example
 * ```ts
 * const { table } = new ConversationTable(this, 'Data', { encryptionKey });
 * ```
 */
export class ConversationTable extends Construct {
  readonly table: Table;

  constructor(scope: Construct, id: string, props: ConversationTableProps) {
    super(scope, id);
    const { partitionKey, sortKey, threadIndex, ttlAttribute } = tableSchema;

    this.table = new Table(this, 'Table', {
      partitionKey: { name: partitionKey, type: AttributeType.STRING },
      sortKey: { name: sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.encryptionKey,
      timeToLiveAttribute: ttlAttribute,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addLocalSecondaryIndex({
      indexName: threadIndex.name,
      sortKey: { name: threadIndex.sortKey, type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });
  }
}
