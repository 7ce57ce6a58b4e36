import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const env = inject('env');
const baseUrl = inject('baseUrl');

/** `npm run --silent token -- …` against the test stack's data dir (so the stack trusts the key). */
function token(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync('npm', ['run', '--silent', 'token', '--', ...args], {
    cwd: ROOT,
    env: { ...process.env, DATA_DIR: env.DATA_DIR },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('npm run token', () => {
  it('prints only a token, which the staff API accepts with the roles it names', async () => {
    // Act
    const agent = token('--sub', 'alice', '--roles', 'agent');
    const editor = token('--sub', 'bob', '--roles', 'editor');
    const asAgent = await fetch(`${baseUrl}/customers?phone=%2B14155550123`, { headers: { authorization: `Bearer ${agent.stdout.trim()}` } });
    const asEditor = await fetch(`${baseUrl}/customers?phone=%2B14155550123`, { headers: { authorization: `Bearer ${editor.stdout.trim()}` } });
    const anonymous = await fetch(`${baseUrl}/customers?phone=%2B14155550123`);

    // Assess
    expect(agent.status).toBe(0);
    expect(agent.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(asAgent.status).toBe(404); // authenticated and allowed; nobody has that phone
    expect(asEditor.status).toBe(403);
    expect(anonymous.status).toBe(401);
  });

  it.each([
    [['--sub', 'alice', '--roles', 'superuser'], /unknown role\(s\): superuser/],
    [['--roles', 'agent'], /--sub is required/],
    [['--sub', 'alice'], /--roles is required/],
    [['--sub', 'alice', '--roles', 'agent', '--bogus'], /Unknown option/],
  ])('refuses %j with usage on stderr and exit 2', (args, why) => {
    // Act
    const run = token(...args);

    // Assess
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(why);
    expect(run.stderr).toMatch(/usage: npm run --silent token/);
  });
});
