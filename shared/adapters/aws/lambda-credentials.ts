import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * Stands in for `@aws-sdk/credential-provider-node` in Lambda bundles only (an esbuild alias in
 * infra/bundling.ts). Lambda always hands a function its role's credentials through environment
 * variables, so the default chain's SSO, STS, INI, process and IMDS providers are dead weight there
 * (~100 KB of each bundle, and init time). The local stack and tests run the unbundled SDK with its
 * full chain.
 */
export const defaultProvider = (init?: Parameters<typeof fromEnv>[0]) => fromEnv(init);
export const credentialsWillNeedRefresh = () => false;
export const credentialsTreatedAsExpired = () => false;
