import type { BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions } from 'esbuild';
import { fileURLToPath } from 'node:url';

/**
 * Lets CommonJS dependencies (twilio, busboy…) call `require` inside an ESM bundle: esbuild's `__require`
 * shim falls back to the global `require`, which ESM does not define.
 */
export const esmRequireBanner = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/**
 * The one description of how a handler is built. {@link handlerBundling} (CDK) and
 * {@link esbuildOptionsFor} (plain esbuild, used by `npm run bench` to measure bundle size and init time)
 * are both derived from it, so the benchmark measures exactly what is deployed.
 */
const handlerBuild = {
  format: 'esm',
  minify: true,
  sourceMap: true,
  target: 'node22',
  /** Nothing external: the AWS SDK is bundled too, so the deployed code never depends on the runtime's copy. */
  externalModules: [] as string[],
  mainFields: ['module', 'main'],
  banner: esmRequireBanner,
  /**
   * Comments a dependency marks to keep (`@license`, `@preserve`, `/*!`) go to `<bundle>.LEGAL.txt` beside
   * the bundle, not into it: they stay in the deployment package, and the bundle carries code only.
   */
  legalComments: 'external',
  /** Lambda's credentials are always in env vars: see shared/adapters/aws/lambda-credentials.ts. */
  alias: { '@aws-sdk/credential-provider-node': fileURLToPath(new URL('../shared/adapters/aws/lambda-credentials.ts', import.meta.url)) },
} as const;

/**
 * Bundling options for every `NodejsFunction`: ESM, minified, source maps, AWS SDK bundled, built by the
 * locally installed esbuild (never Docker), so `cdk synth` works offline.
 *
 * @example
 * ```ts
 * new NodejsFunction(this, 'Fn', { entry, bundling: handlerBundling });
 * ```
 */
export const handlerBundling: BundlingOptions = {
  format: OutputFormat.ESM,
  minify: handlerBuild.minify,
  sourceMap: handlerBuild.sourceMap,
  target: handlerBuild.target,
  bundleAwsSDK: true,
  externalModules: [...handlerBuild.externalModules],
  mainFields: [...handlerBuild.mainFields],
  banner: handlerBuild.banner,
  esbuildArgs: {
    '--legal-comments': handlerBuild.legalComments,
    ...Object.fromEntries(Object.entries(handlerBuild.alias).map(([from, to]) => [`--alias:${from}`, to])),
  },
  forceDockerBundling: false,
};

/**
 * The plain esbuild equivalent of {@link handlerBundling} for one handler, as `NodejsFunction` would run it.
 *
 * @example
 * ```ts
 * import { build } from 'esbuild';
 * await build(esbuildOptionsFor('functions/http/twilio-sms.ts', '.build/twilio-sms/index.mjs'));
 * ```
 */
export function esbuildOptionsFor(entry: string, outfile: string): BuildOptions {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: handlerBuild.format,
    minify: handlerBuild.minify,
    sourcemap: handlerBuild.sourceMap,
    target: handlerBuild.target,
    external: [...handlerBuild.externalModules],
    mainFields: [...handlerBuild.mainFields],
    banner: { js: handlerBuild.banner },
    legalComments: handlerBuild.legalComments,
    alias: { ...handlerBuild.alias },
  };
}
