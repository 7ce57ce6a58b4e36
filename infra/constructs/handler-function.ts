import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Function as LambdaFunction, Runtime, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { handlerBundling } from '#infra/bundling.ts';

/** The repository root: entries in `shared/routes.ts` are relative to it. */
export const projectRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Power Tools service name shared by every handler, so logs of one request path group together. */
export const serviceName = 'omnichannel-support';

export type HandlerFunctionProps = {
  /** Handler module relative to the project root (a `shared/routes.ts` entry); it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize?: number;
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Build a placeholder instead of bundling the entry. For template assertions only: they check the
   * template, not the bundle, and must not depend on esbuild or on every handler file existing. The real
   * bundle is built by `cdk synth` and measured by `npm run bench`.
   */
  readonly skipBundling?: boolean;
};

/**
 * One Lambda handler: Node.js 22 on ARM64, bundled from its entry with {@link handlerBundling}, its own
 * log group with retention, and its own role that may write only to that log group until the stack
 * grants more.
 *
 * @example
 * ```ts
 * const fn = new HandlerFunction(this, 'TwilioSms', { entry: 'functions/http/twilio-sms.ts', description: '…', timeout: Duration.seconds(10) });
 * table.grantReadWriteData(fn.function);
 * ```
 */
export class HandlerFunction extends Construct {
  readonly function: IFunction;
  readonly logGroup: LogGroup;
  /** The function's own role; grants land in its default policy. */
  readonly role: Role;

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    super(scope, id);

    const entryPath = join(projectRoot, props.entry);
    if (!props.skipBundling && !existsSync(entryPath)) {
      throw new Error(`Handler entry ${props.entry} (${id}) does not exist at ${entryPath}: nothing to bundle`);
    }

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // A role of our own instead of the default one with AWSLambdaBasicExecutionRole, whose log
    // permissions cover every log group in the account.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs ${props.entry}`,
    });
    this.logGroup.grantWrite(this.role);

    const common = {
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: serviceName,
        ...props.environment,
      },
    };

    this.function = props.skipBundling
      ? new LambdaFunction(this, 'Function', {
          ...common,
          handler: 'index.handler',
          code: Code.fromInline(
            "exports.handler = async () => { throw new Error('placeholder built with skipBundling: deploy with cdk synth'); };",
          ),
        })
      : new NodejsFunction(this, 'Function', {
          ...common,
          entry: entryPath,
          handler: 'handler',
          projectRoot,
          depsLockFilePath: join(projectRoot, 'package-lock.json'),
          bundling: handlerBundling,
        });
    Validations.of(this.function.node.defaultChild ?? this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'nodejs22.x on purpose: the project pins Node 22 for its tests and local stack, so the deployed runtime is the one that is tested. Move both together.',
    });
  }
}
