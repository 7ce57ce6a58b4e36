/** Copy a message's provider-hosted media into our blob store. */
export type FetchMediaJob = {
  readonly type: 'fetch-media';
  readonly conversationId: string;
  readonly messageId: string;
};

/**
 * After a merge: move whatever still landed in the absorbed thread (a message whose identity lookup
 * raced with the merge) into the surviving one. Run once the longest webhook could have finished.
 */
export type SweepMergedJob = {
  readonly type: 'sweep-merged';
  readonly fromCustomerId: string;
  readonly toCustomerId: string;
};

/** Work that must not hold up a provider's webhook: done later by the inbound-work consumer. */
export type InboundWorkJob = FetchMediaJob | SweepMergedJob;

/** Port: where the ingest hands slow work. The SQS adapter is the only implementation in the product. */
export type WorkQueue = {
  enqueue(job: InboundWorkJob, options?: { delaySeconds?: number }): Promise<void>;
};
