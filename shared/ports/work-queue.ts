/** Work that must not hold up a provider's webhook: done later by the inbound-work consumer. */
export type InboundWorkJob = {
  readonly type: 'fetch-media';
  readonly conversationId: string;
  readonly messageId: string;
};

/** Port: where the ingest hands slow work. The SQS adapter is the only implementation in the product. */
export type WorkQueue = {
  enqueue(job: InboundWorkJob): Promise<void>;
};
