import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Pids of live DynamoDB Local JVMs on a database under `dataDir` (zombies have no cmdline and do not count). */
function jvmsUsing(dataDir: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return cmdline.includes('DynamoDBLocal') && cmdline.includes(dataDir);
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
}

function exitOf(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    const timer = setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

const providerSettings = ['TWILIO_ACCOUNT_SID', 'TWILIO_API_KEY_SID', 'TWILIO_API_KEY_SECRET', 'TWILIO_FROM_NUMBER', 'SENDGRID_API_KEY', 'EMAIL_FROM', 'CHAT_DELIVERY_URL'];

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

describe('npm start', () => {
  it('prints one ready line with its URL, serves requests, and on SIGTERM exits 0 leaving no JVM', async () => {
    // Prepare
    const dataDir = mkdtempSync(join(tmpdir(), 'omnichannel-npm-start-'));
    const child = spawn('npm', ['start'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: '0',
        DYNAMODB_PORT: '0',
        SQS_PORT: '0',
        DATA_DIR: dataDir,
        ACCESS_LOG: 'false',
        POWERTOOLS_LOG_LEVEL: 'ERROR',
        // Empty counts as unset: whatever the developer's shell holds, no provider is configured here.
        ...Object.fromEntries(providerSettings.map((name) => [name, ''])),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so cleanup can reach every process it started
    });
    cleanup = () => {
      // Matters only when the test failed: whatever is left of the group (npm may be gone while its
      // descendants live on), then any JVM left on this data dir.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the whole group is gone
      }
      for (const pid of jvmsUsing(dataDir)) process.kill(pid, 'SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    };
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));

    // Act 1: wait for the ready line
    const baseUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line within 90 s:\n${output}`)), 90_000);
      const check = (): void => {
        const match = /^.*\bready\b.*?(http:\/\/[^\s]+).*$/m.exec(output);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      };
      child.stdout!.on('data', check);
      child.once('exit', () => reject(new Error(`npm start exited before ready:\n${output}`)));
    });
    const notFound = await fetch(`${baseUrl}/nope`);
    const outbox = await fetch(`${baseUrl}/dev/outbox`);

    // Act 2: SIGTERM to npm itself, as a supervisor or `kill <pid>` sends it
    process.kill(child.pid!, 'SIGTERM');
    const exit = await exitOf(child, 30_000);

    // Assess
    expect(output.split('\n').filter((line) => line.includes('ready'))).toHaveLength(1);
    expect(notFound.status).toBe(404);
    // What it prints about outbound is true: no provider is configured, and the outbox it names answers
    expect(output).toContain(`Outbound: sms, voice, email, chat → local outbox, listed at ${baseUrl}/dev/outbox`);
    expect(outbox.status).toBe(200);
    const setting = (name: string) => new RegExp(`^\\s+${name}\\s+(\\S+)`, 'm').exec(output)?.[1];
    // Every setting of the contract's table is printed with its local value
    for (const name of ['PORT', 'PUBLIC_BASE_URL', 'TWILIO_AUTH_TOKEN', 'SENDGRID_INBOUND_SECRET', 'SENDGRID_EVENT_PUBLIC_KEY', 'CHAT_WEBHOOK_SECRET', 'CHAT_DELIVERY_URL']) {
      expect(setting(name), name).toBeDefined();
    }
    expect(setting('LOCAL_OUTBOX')).toBe('1');
    expect(setting('UNSUBSCRIBE_SIGNING_SECRET')).toMatch(/^(local-unsubscribe-signing-secret|<set>)$/); // <set>: inherited from the test stack's env
    expect(setting('BROADCAST_RATE_SMS_PER_SECOND')).toBe('1');
    expect(setting('BROADCAST_RATE_VOICE_PER_SECOND')).toBe('0.2');
    expect(setting('SMS_HELP_TEXT')).toBe('Support:');
    expect(setting('TEMPLATE_APPROVALS_QUEUE_URL')).toMatch(/\/template-approvals\.fifo$/);
    expect(setting('OUTBOUND_QUEUE_URL')).toMatch(/\/outbound\.fifo$/);
    expect(((await notFound.json()) as { error: { code: string } }).error.code).toBe('not_found');
    expect(
      exit,
      'npm mirrors its child: a SIGTERM death here means the start script\'s shell did not pass the signal on (the script needs `exec`)',
    ).toEqual({ code: 0, signal: null });
    expect(jvmsUsing(dataDir)).toEqual([]);
    expect(existsSync(join(dataDir, 'stack.lock'))).toBe(false);
  }, 150_000);
});
