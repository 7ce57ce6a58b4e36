import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The one Powertools logger. Log ids and codes, never message bodies, phone numbers, emails or secrets.
 *
 * @example
 * ```ts
 * logger.info('message stored', { conversationId, messageId });
 * ```
 */
export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'omnichannel',
  logLevel: (process.env.POWERTOOLS_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'INFO') as 'INFO',
});
