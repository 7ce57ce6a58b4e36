import { Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  LogGroupLogDestination,
  PayloadFormatVersion,
  type HttpStage,
  type IHttpRouteAuthorizer,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { HttpRoute as RouteSpec } from '#shared/routes.ts';

export type MessagingHttpApiProps = {
  /** Steady-state requests per second across the API's default stage. */
  readonly rateLimit: number;
  /** Burst above the steady rate the stage absorbs before answering 429. */
  readonly burstLimit: number;
};

/**
 * One access log line per request, JSON. No path, query string, headers or bodies: customer phone numbers
 * and emails travel in the query (`GET /customers?phone=…`), and a one-click unsubscribe token (a bearer
 * credential for that customer's opt-out) in the path. The route key says which route; the staff `sub`
 * and source IP stay for audit.
 */
const accessLogFormat = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    requestTime: '$context.requestTime',
    routeKey: '$context.routeKey',
    status: '$context.status',
    protocol: '$context.protocol',
    responseLength: '$context.responseLength',
    responseLatency: '$context.responseLatency',
    integrationStatus: '$context.integrationStatus',
    integrationLatency: '$context.integrationLatency',
    integrationError: '$context.integrationErrorMessage',
    error: '$context.error.message',
    authorizerError: '$context.authorizer.error',
    staffSub: '$context.authorizer.claims.sub',
    sourceIp: '$context.identity.sourceIp',
    userAgent: '$context.identity.userAgent',
  }),
);

/**
 * The HTTP API (payload format 2.0) with a throttled `$default` stage writing JSON access logs to
 * CloudWatch. Routes are added one per `shared/routes.ts` entry with {@link MessagingHttpApi.addLambdaRoute}.
 *
 * @example
 * ```ts
 * const api = new MessagingHttpApi(this, 'Api', { rateLimit: 200, burstLimit: 400 });
 * api.addLambdaRoute(route, fn, staffAuthorizer);
 * ```
 */
export class MessagingHttpApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: MessagingHttpApiProps) {
    super(scope, id);

    this.api = new HttpApi(this, 'HttpApi', {
      description: 'Omnichannel support: provider webhooks and the staff API',
      // The stage is created below, because throttling and access logs are stage settings.
      createDefaultStage: false,
    });

    this.accessLogs = new LogGroup(this, 'AccessLogs', { retention: RetentionDays.ONE_YEAR });

    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.rateLimit, burstLimit: props.burstLimit },
      accessLogSettings: { destination: new LogGroupLogDestination(this.accessLogs), format: accessLogFormat },
    });
  }

  /** `https://<api-id>.execute-api.<region>.amazonaws.com`, no trailing slash. */
  get apiEndpoint(): string {
    return this.api.apiEndpoint;
  }

  /**
   * Routes `spec.method spec.path` to `fn`. Without an authorizer the route is public at the gateway,
   * which only provider webhooks may be: they verify the provider's signature in the handler.
   *
   * @example
   * ```ts
   * api.addLambdaRoute({ name: 'ChatWebhook', method: 'POST', path: '/webhooks/chat', entry: '…', auth: 'webhook' }, fn);
   * ```
   */
  addLambdaRoute(spec: RouteSpec, fn: IFunction, authorizer?: IHttpRouteAuthorizer): HttpRoute {
    if (authorizer === undefined && spec.auth !== 'webhook') {
      throw new Error(`Route ${spec.name} (${spec.auth}) needs an authorizer; only provider webhooks are public`);
    }
    const route = new HttpRoute(this, `${spec.name}Route`, {
      httpApi: this.api,
      routeKey: HttpRouteKey.with(spec.path, HttpMethod[spec.method]),
      integration: new HttpLambdaIntegration(`${spec.name}Integration`, fn, {
        payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
      }),
      authorizer,
    });
    if (authorizer === undefined) {
      Validations.of(route.node.defaultChild ?? route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason: spec.path.startsWith('/unsubscribe/')
          ? `${spec.method} ${spec.path} is the RFC 8058 one-click unsubscribe, posted by mailbox providers and mail clients that cannot send a staff JWT; the handler authenticates it by the HMAC-signed token in the path (constant-time check) and answers 4xx before touching any data.`
          : `${spec.method} ${spec.path} is called by a provider (Twilio, SendGrid, the chat backend) that cannot send a staff JWT; the handler authenticates every request with the provider's signature or Basic auth and answers 401/403 before touching any data.`,
      });
    }
    return route;
  }
}
