/**
 * What the local emulators stand in for: one region, one account, credentials that mean nothing.
 * The local stack forces these, so a developer's real AWS credentials in the shell are never used (or
 * printed) by anything `npm start` runs.
 */
export const LOCAL_REGION = 'us-east-1';

/** fauxqs' account id: its queue ARNs are `arn:aws:sqs:<region>:000000000000:<name>`. */
export const LOCAL_ACCOUNT_ID = '000000000000';

export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/**
 * The env var that carries a queue's URL to handlers: `inbound-work` → `INBOUND_WORK_QUEUE_URL`.
 *
 * @example
 * ```ts
 * queueUrlEnvName('inbound-work'); // 'INBOUND_WORK_QUEUE_URL'
 * ```
 */
export function queueUrlEnvName(queue: string): string {
  return `${queue.replace(/[^A-Za-z0-9]+/g, '_').toUpperCase()}_QUEUE_URL`;
}
