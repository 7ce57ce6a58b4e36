import type middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  ConflictError,
  DomainError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthenticatedError,
  UnprocessableError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '#shared/errors.ts';
import { logger } from '#shared/logger.ts';
import { errorResponse } from '#shared/http/responses.ts';

type Options = {
  /** Extra headers on 401 answers (e.g. `WWW-Authenticate`). */
  unauthenticatedHeaders?: Record<string, string>;
};

const defaults: Options = {};

/** Most specific first: `SignatureError` is a `ForbiddenError`. */
const statusByError: ReadonlyArray<readonly [new (...args: never[]) => DomainError, number]> = [
  [ValidationError, 400],
  [UnauthenticatedError, 401],
  [ForbiddenError, 403],
  [NotFoundError, 404],
  [ConflictError, 409],
  [PayloadTooLargeError, 413],
  [UnprocessableError, 422],
  [UnsupportedMediaTypeError, 415],
];

/**
 * Turns typed domain errors into `{"error":{"code","message"}}` answers. Anything else is a 500 whose
 * details stay in the log (without the request body), so a provider retries and nothing leaks.
 *
 * @example
 * ```ts
 * export const handler = middy(fn).use(httpErrorHandler());
 * ```
 */
export function httpErrorHandler(
  options: Options = {},
): middy.MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> {
  const opts = { ...defaults, ...options };
  const httpErrorHandlerOnError: middy.MiddlewareFn<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> = async (request) => {
    const err = request.error;
    if (err instanceof DomainError) {
      const match = statusByError.find(([type]) => err instanceof type);
      const status = match?.[1] ?? 400;
      logger.info('request refused', { code: err.code, status, route: request.event.routeKey });
      const challenge = err instanceof UnauthenticatedError && err.challenge !== undefined ? { 'WWW-Authenticate': err.challenge } : undefined;
      request.response = errorResponse(status, err.code, err.message, status === 401 ? (challenge ?? opts.unauthenticatedHeaders ?? {}) : {});
      return;
    }
    logger.error('request failed', { route: request.event.routeKey, error: err });
    request.response = errorResponse(500, 'internal_error', 'Internal error; please retry');
  };
  return { onError: httpErrorHandlerOnError };
}
