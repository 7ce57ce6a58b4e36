import { readSetting, type SettingRow } from './settings.ts';

/** Where a channel's outbound messages go on this machine. */
export type OutboundDestination = {
  readonly channels: readonly string[];
  readonly provider: string;
  /** `provider`: every setting below is set, so the real provider adapter sends; `local outbox`: recorded, listed by `GET /dev/outbox`. */
  readonly destination: 'provider' | 'local outbox';
  /** Settings of that provider that are unset (empty when `destination` is `provider`). */
  readonly missing: readonly string[];
};

type ProviderSpec = {
  readonly channels: readonly string[];
  readonly provider: string;
  /** Every one must be set for the real adapter to be used (CONTRACT.md; `senderFor` in shared/adapters/providers). */
  readonly settings: readonly string[];
  readonly secrets: readonly string[];
};

/**
 * The outbound providers and the settings each needs. Locally (`LOCAL_OUTBOX=1`) a channel whose
 * provider is not fully configured is recorded in the local outbox instead of being sent, never dropped.
 */
export const OUTBOUND_PROVIDERS: readonly ProviderSpec[] = [
  {
    channels: ['sms', 'voice'],
    provider: 'Twilio',
    settings: ['TWILIO_ACCOUNT_SID', 'TWILIO_API_KEY_SID', 'TWILIO_API_KEY_SECRET', 'TWILIO_FROM_NUMBER'],
    secrets: ['TWILIO_API_KEY_SECRET'],
  },
  { channels: ['email'], provider: 'SendGrid', settings: ['SENDGRID_API_KEY', 'EMAIL_FROM'], secrets: ['SENDGRID_API_KEY'] },
  // CHAT_WEBHOOK_SECRET (the signing key of deliveries) always has a local default, so only the URL decides.
  { channels: ['chat'], provider: 'CHAT_DELIVERY_URL', settings: ['CHAT_DELIVERY_URL', 'CHAT_WEBHOOK_SECRET'], secrets: [] },
];

/** Test-only overrides that point the real provider SDKs at local fakes (contract tests). */
const PROVIDER_BASE_URLS = [
  ['TWILIO_API_BASE_URL', 'Twilio'],
  ['SENDGRID_API_BASE_URL', 'SendGrid'],
] as const;

/** Broadcast pacing per channel, messages per second (Twilio long codes send about 1 segment/s). */
export const BROADCAST_RATE_DEFAULTS = {
  BROADCAST_RATE_SMS_PER_SECOND: '1',
  BROADCAST_RATE_EMAIL_PER_SECOND: '10',
  BROADCAST_RATE_CHAT_PER_SECOND: '20',
  BROADCAST_RATE_VOICE_PER_SECOND: '0.2',
} as const;

/** What an inbound SMS `HELP` is answered with (carriers require an answer naming how to get help and opt out). */
export const SMS_HELP_TEXT_DEFAULT = 'Support: reply here or use the app chat to reach a person. Reply STOP to opt out.';

/**
 * Where each channel's outbound messages go with these settings.
 *
 * @example
 * ```ts
 * outboundDestinations({ SENDGRID_API_KEY: 'SG.x', EMAIL_FROM: 'help@example.com' });
 * // email → provider; sms, voice and chat → local outbox
 * ```
 */
export function outboundDestinations(values: Readonly<Record<string, string | undefined>>): OutboundDestination[] {
  return OUTBOUND_PROVIDERS.map((p) => {
    const missing = p.settings.filter((name) => values[name] === undefined || values[name] === '');
    return { channels: p.channels, provider: p.provider, destination: missing.length === 0 ? 'provider' : 'local outbox', missing };
  });
}

/**
 * The provider credential rows of the settings table (read from `env`, passed through when set), each
 * noting truthfully where its channels' messages go. `CHAT_WEBHOOK_SECRET` is not among them: it is a
 * webhook secret with a local default, read with the other secrets.
 *
 * @example
 * ```ts
 * const rows = outboundSettingRows(process.env);
 * ```
 */
export function outboundSettingRows(env: Readonly<Record<string, string | undefined>>): SettingRow[] {
  const credentials = OUTBOUND_PROVIDERS.map((p) =>
    p.settings.filter((name) => name !== 'CHAT_WEBHOOK_SECRET').map((name) => readSetting(name, { env, secret: p.secrets.includes(name) })),
  );
  // The chat signing key always has a value locally (env or local default): only the URL can be missing.
  const values: Record<string, string | undefined> = { CHAT_WEBHOOK_SECRET: 'local default' };
  for (const row of credentials.flat()) values[row.name] = row.value;
  const destinations = outboundDestinations(values);

  const rows = OUTBOUND_PROVIDERS.flatMap((p, i) => {
    const where = destinations[i]!;
    const channels = p.channels.join(' and ');
    const go = p.channels.length > 1 ? 'go' : 'goes';
    return credentials[i]!.map((row): SettingRow => {
      if (where.destination === 'provider') return { ...row, note: `${channels} sent through ${p.provider}` };
      if (row.value === undefined) return { ...row, note: `${channels} ${go} to the local outbox (GET /dev/outbox)` };
      const verb = where.missing.length > 1 ? 'are' : 'is';
      return { ...row, note: `${channels} still ${go} to the local outbox until ${where.missing.join(', ')} ${verb} set too` };
    });
  });
  for (const [name, provider] of PROVIDER_BASE_URLS) {
    const row = readSetting(name, { env });
    rows.push({ ...row, note: row.value === undefined ? `${provider}'s own API (tests point it at a local fake)` : `${provider} API calls go here (a test fake)` });
  }
  return rows;
}

/**
 * One line saying where each channel's outbound messages go, for `npm start`.
 *
 * @example
 * ```ts
 * formatOutboundSummary(outboundDestinations(stack.env), 'http://127.0.0.1:3000');
 * // 'Outbound: email → SendGrid; sms, voice, chat → local outbox, listed at http://127.0.0.1:3000/dev/outbox'
 * ```
 */
export function formatOutboundSummary(destinations: readonly OutboundDestination[], baseUrl: string): string {
  const sent = destinations.filter((d) => d.destination === 'provider').map((d) => `${d.channels.join(', ')} → ${d.provider}`);
  const kept = destinations.filter((d) => d.destination === 'local outbox').flatMap((d) => d.channels);
  const parts = [...sent, ...(kept.length > 0 ? [`${kept.join(', ')} → local outbox, listed at ${baseUrl}/dev/outbox`] : [])];
  return `Outbound: ${parts.join('; ')}`;
}

/**
 * A broadcast rate: a positive number of messages per second (fractions allowed: 0.2 = one every 5 s).
 *
 * @example
 * ```ts
 * parseRate('BROADCAST_RATE_VOICE_PER_SECOND', '0.2'); // 0.2
 * ```
 */
export function parseRate(name: string, value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(value) || !Number.isFinite(n) || n <= 0) {
    throw new Error(`${name} must be a positive number of messages per second, got "${value}"`);
  }
  return n;
}
