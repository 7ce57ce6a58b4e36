import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** The local stand-in for SendGrid's Event Webhook signing key pair (ECDSA P-256). */
export type SendgridEventKey = {
  /** What SendGrid shows as the "verification key": base64 of the DER SubjectPublicKeyInfo. */
  readonly publicKeyBase64: string;
  /** PKCS#8 PEM; only tests and local tools sign with it. */
  readonly privateKeyPem: string;
};

/**
 * The key pair, created once and kept in `file` (under the data dir) so the printed public key stays
 * the same across restarts. Local development only.
 *
 * @example
 * ```ts
 * const { publicKeyBase64 } = loadOrCreateSendgridEventKey('.data/sendgrid-event-key.json');
 * ```
 */
export function loadOrCreateSendgridEventKey(file: string): SendgridEventKey {
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as SendgridEventKey;
  const { publicKey, privateKey } = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const key: SendgridEventKey = { publicKeyBase64: publicKey.toString('base64'), privateKeyPem: privateKey };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(key), { mode: 0o600 });
  return key;
}
