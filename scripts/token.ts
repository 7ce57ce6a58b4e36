/**
 * `npm run --silent token -- --sub <user> --roles <r1,r2>`: prints a staff token from the local dev
 * issuer (the key the local stack trusts, kept in `$DATA_DIR/dev-issuer-key.json`), and nothing else.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEV_AUDIENCE, DEV_ISSUER, loadOrCreateDevKey, signDevToken } from '#shared/auth/dev-issuer.ts';
import { staffRoles, type StaffRole } from '#shared/auth/staff-auth.ts';

const USAGE = `usage: npm run --silent token -- --sub <user> --roles <role[,role…]> [--expires-in <e.g. 12h>]
roles: ${staffRoles.join(', ')}
The token is signed by the local dev issuer key in $DATA_DIR/dev-issuer-key.json (DATA_DIR defaults to .data).`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

let values: { sub?: string | undefined; roles?: string | undefined; 'expires-in'?: string | undefined; help?: boolean | undefined };
try {
  ({ values } = parseArgs({
    options: {
      sub: { type: 'string' },
      roles: { type: 'string' },
      'expires-in': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}

if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const sub = values.sub?.trim();
if (!sub) fail('--sub is required');
const roles = (values.roles ?? '')
  .split(',')
  .map((r) => r.trim())
  .filter((r) => r !== '');
if (roles.length === 0) fail('--roles is required');
const unknown = roles.filter((r) => !staffRoles.includes(r as StaffRole));
if (unknown.length > 0) fail(`unknown role(s): ${unknown.join(', ')}`);
const expiresIn = values['expires-in'];
if (expiresIn !== undefined && !/^\d+\s*[smhdw]$/.test(expiresIn)) fail('--expires-in must look like 30m, 12h or 7d');

const dataDir = resolve(process.env.DATA_DIR || '.data');
const key = await loadOrCreateDevKey(join(dataDir, 'dev-issuer-key.json'));
const token = await signDevToken(key, {
  sub,
  roles,
  issuer: process.env.JWT_ISSUER || DEV_ISSUER,
  audience: process.env.JWT_AUDIENCE || DEV_AUDIENCE,
  ...(expiresIn ? { expiresIn } : {}),
});
process.stdout.write(`${token}\n`);
