/**
 * `npm start`: the whole product on this machine (see CONTRACT.md, "Local stack"). Prints the settings
 * it uses, then exactly one line containing `ready` and the base URL. SIGINT/SIGTERM stop everything,
 * children included, and exit 0.
 */
import { formatOutboundSummary } from '#local/outbound-settings.ts';
import { formatSettingsTable } from '#local/settings.ts';
import { startLocalStack, type LocalStack } from '#local/stack.ts';

const accessLog = (process.env.ACCESS_LOG ?? 'true') !== 'false';

let stack: LocalStack | undefined;
let firstSignalAt: number | undefined;

async function shutDown(signal: NodeJS.Signals): Promise<void> {
  if (firstSignalAt !== undefined) {
    // tsx relays the signal a terminal or a process-group kill already delivered: the same signal
    // arrives twice within milliseconds. Only a later one is someone insisting.
    if (Date.now() - firstSignalAt < 2000) return;
    console.error(`local stack: ${signal} again, exiting now`);
    process.exit(1); // DynamoDB Local's exit guard and watchdog still kill the JVM
  }
  firstSignalAt = Date.now();
  console.log(`local stack: ${signal}, stopping`);
  if (!stack) return; // still starting: stopped as soon as it is up (below)
  await stack.stop();
  console.log('local stack: stopped');
  process.exit(0);
}

process.on('SIGINT', (signal) => void shutDown(signal));
process.on('SIGTERM', (signal) => void shutDown(signal));

try {
  stack = await startLocalStack({ env: process.env, accessLog });
} catch (err) {
  console.error(`local stack: could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

if (firstSignalAt !== undefined) {
  // A signal arrived while starting.
  await stack.stop();
  console.log('local stack: stopped');
  process.exit(0);
}

console.log('Settings (set any of these in the environment to override):');
console.log(formatSettingsTable(stack.settings));
console.log(formatOutboundSummary(stack.outbound, stack.baseUrl));
console.log(`DynamoDB Local answered after ${stack.timings.dynamoDbMs} ms; stack up in ${stack.timings.totalMs} ms. ACCESS_LOG=false silences the request log.`);
console.log(`ready ${stack.baseUrl}`);
