import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatOutboundSummary, outboundDestinations, outboundSettingRows, parseRate } from '#local/outbound-settings.ts';
import { formatSettingsTable } from '#local/settings.ts';
import { startLocalStack, type LocalStack } from '#local/stack.ts';

const twilio = {
  TWILIO_ACCOUNT_SID: `AC${'1'.repeat(32)}`,
  TWILIO_API_KEY_SID: `SK${'2'.repeat(32)}`,
  TWILIO_API_KEY_SECRET: 'real-looking-twilio-key-secret',
  TWILIO_FROM_NUMBER: '+14155550100',
};

describe('where outbound messages go locally', () => {
  it('sends a channel through its provider only when every one of its settings is set, else to the local outbox', () => {
    // Act
    const none = outboundDestinations({ CHAT_WEBHOOK_SECRET: 'x' });
    const partial = outboundDestinations({ CHAT_WEBHOOK_SECRET: 'x', TWILIO_ACCOUNT_SID: twilio.TWILIO_ACCOUNT_SID, SENDGRID_API_KEY: 'SG.x', EMAIL_FROM: 'help@example.com' });
    const all = outboundDestinations({ ...twilio, CHAT_WEBHOOK_SECRET: 'x', CHAT_DELIVERY_URL: 'http://127.0.0.1:9/chat' });

    // Assess
    expect(none.map((d) => d.destination)).toEqual(['local outbox', 'local outbox', 'local outbox']);
    expect(partial.map((d) => [d.channels.join('+'), d.destination, d.missing])).toEqual([
      ['sms+voice', 'local outbox', ['TWILIO_API_KEY_SID', 'TWILIO_API_KEY_SECRET', 'TWILIO_FROM_NUMBER']],
      ['email', 'provider', []],
      ['chat', 'local outbox', ['CHAT_DELIVERY_URL']],
    ]);
    expect(all.filter((d) => d.destination === 'provider').flatMap((d) => d.channels)).toEqual(['sms', 'voice', 'chat']);
  });

  it('prints, for each credential, where its channels go, and never a provider secret taken from the environment', () => {
    // Act
    const printed = formatSettingsTable(outboundSettingRows({ ...twilio, SENDGRID_API_KEY: 'SG.real-looking-key', TWILIO_API_BASE_URL: 'http://127.0.0.1:9/twilio' }));
    const lineOf = (name: string) => printed.split('\n').find((l) => l.trim().startsWith(`${name} `)) ?? '';

    // Assess
    expect(lineOf('TWILIO_ACCOUNT_SID')).toMatch(/sms and voice sent through Twilio/);
    expect(lineOf('TWILIO_API_KEY_SECRET')).toMatch(/<set>/);
    expect(lineOf('SENDGRID_API_KEY')).toMatch(/<set>.*email still goes to the local outbox until EMAIL_FROM is set too/);
    expect(lineOf('EMAIL_FROM')).toMatch(/email goes to the local outbox \(GET \/dev\/outbox\)/);
    expect(lineOf('CHAT_DELIVERY_URL')).toMatch(/chat goes to the local outbox/);
    expect(lineOf('TWILIO_API_BASE_URL')).toMatch(/http:\/\/127\.0\.0\.1:9\/twilio/);
    expect(lineOf('SENDGRID_API_BASE_URL')).toMatch(/SendGrid's own API/);
    expect(printed).not.toContain('real-looking');
  });

  it('sums it up in one line naming the outbox URL', () => {
    // Act
    const line = formatOutboundSummary(outboundDestinations({ ...twilio, CHAT_WEBHOOK_SECRET: 'x' }), 'http://127.0.0.1:3000');

    // Assess
    expect(line).toBe('Outbound: sms, voice → Twilio; email, chat → local outbox, listed at http://127.0.0.1:3000/dev/outbox');
  });

  it.each(['0', '-1', 'fast', '', '1e3', 'Infinity'])('refuses the broadcast rate %j', (value) => {
    expect(() => parseRate('BROADCAST_RATE_SMS_PER_SECOND', value)).toThrow(/BROADCAST_RATE_SMS_PER_SECOND must be a positive number/);
  });

  it.each([
    ['0.2', 0.2],
    ['1', 1],
    ['20', 20],
    ['.5', 0.5],
  ])('accepts the broadcast rate %j', (value, rate) => {
    expect(parseRate('BROADCAST_RATE_VOICE_PER_SECOND', value)).toBe(rate);
  });
});

// These start stacks of their own in this test process (each a DynamoDB Local JVM) on temp data dirs.
const running: LocalStack[] = [];
const dirs: string[] = [];
const shellBefore = { ...process.env };

afterEach(async () => {
  for (const stack of running.splice(0)) await stack.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  for (const name of ['SENDGRID_API_KEY', 'EMAIL_FROM']) {
    if (shellBefore[name] === undefined) delete process.env[name];
    else process.env[name] = shellBefore[name];
  }
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'omnichannel-outbound-'));
  dirs.push(dir);
  return dir;
}

describe('a local stack with provider credentials', () => {
  it('passes the credentials it is given through to handlers, and hides those of the shell it was not given', async () => {
    // Prepare: the shell of this process holds SendGrid credentials the stack is not given
    process.env.SENDGRID_API_KEY = 'SG.from-the-developer-shell';
    process.env.EMAIL_FROM = 'me@example.com';
    const given = { ...twilio, TWILIO_API_BASE_URL: 'http://127.0.0.1:9/twilio', POWERTOOLS_LOG_LEVEL: 'ERROR' };

    // Act
    const stack = await startLocalStack({ env: given, dataDir: tempDir(), port: 0, startConsumers: false, log: () => {} });
    running.push(stack);
    const seenByHandlers = { ...process.env };
    await stack.stop();
    running.splice(0);

    // Assess
    expect(seenByHandlers).toMatchObject({ ...twilio, TWILIO_API_BASE_URL: 'http://127.0.0.1:9/twilio', LOCAL_OUTBOX: '1' });
    expect(seenByHandlers.SENDGRID_API_KEY).toBeUndefined();
    expect(seenByHandlers.EMAIL_FROM).toBeUndefined();
    expect(stack.outbound.map((d) => [d.channels.join('+'), d.destination])).toEqual([
      ['sms+voice', 'provider'],
      ['email', 'local outbox'],
      ['chat', 'local outbox'],
    ]);
    // and the shell gets its own values back when the stack stops
    expect(process.env.SENDGRID_API_KEY).toBe('SG.from-the-developer-shell');
    expect(process.env.TWILIO_ACCOUNT_SID).toBe(shellBefore.TWILIO_ACCOUNT_SID);
  });

  it('refuses to start, before starting anything, with a broadcast rate that is not a positive number', async () => {
    // Act
    const started = startLocalStack({ env: { BROADCAST_RATE_SMS_PER_SECOND: '0' }, dataDir: tempDir(), port: 0, log: () => {} });

    // Assess
    await expect(started).rejects.toThrow(/BROADCAST_RATE_SMS_PER_SECOND must be a positive number/);
  });
});
