import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { httpErrorHandler } from '#shared/http/error-handler.middleware.ts';
import { logger } from '#shared/logger.ts';

export type HttpFn = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

/**
 * The middy chain every HTTP handler shares: Powertools logger context, then the one error mapper.
 *
 * @example
 * ```ts
 * export const handler = httpHandler(async (event) => json(200, await useCase(parse(event))));
 * ```
 */
export function httpHandler(fn: HttpFn, options: Parameters<typeof httpErrorHandler>[0] = {}) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(fn)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(httpErrorHandler(options));
}
