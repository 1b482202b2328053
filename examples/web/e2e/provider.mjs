// The repository's test OpenID Provider (tests/oidc/provider.mjs: panva's oidc-provider with
// dev interactions, whose login page takes an account's `sub` and any password) on a free
// loopback port, for browser tests of provider sign-in. stop() closes its stdin, which ends it.
import { spawn, execFile } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from './server.mjs';

const run = promisify(execFile);
const dir = fileURLToPath(new URL('../../../tests/oidc/', import.meta.url));

/**
 * `clients`: [{client_id, client_secret, redirect_uris}]; `accounts`: [{sub, email,
 * email_verified, name}]; `port`: one chosen beforehand, else a free one.
 * Resolves to { issuer, port, stop }.
 */
export async function startProvider({ clients, accounts, port }) {
  // Its dependencies, once per checkout (tests/oidc/node_modules is not committed).
  await access(join(dir, 'node_modules/oidc-provider')).catch(() => run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir }));
  port ??= await freePort();
  const keysDir = await mkdtemp(join(tmpdir(), 'agora-e2e-op-'));
  const config = { port, keysFile: join(keysDir, 'keys.json'), clients, accounts };
  const child = spawn(process.execPath, [join(dir, 'provider.mjs'), JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));

  async function stop() {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    await rm(keysDir, { recursive: true, force: true });
  }

  try {
    const line = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`the provider did not start within 20 s: ${stderr}`)), 20_000);
      child.stdout.on('data', (chunk) => {
        out += chunk;
        const end = out.indexOf('\n');
        if (end >= 0) {
          clearTimeout(timer);
          resolve(out.slice(0, end));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the provider exited (${code}) before listening: ${stderr}`));
      });
    });
    const { issuer } = JSON.parse(line);
    return { issuer, port, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Signs in at the provider's login page (any password) and consents, in `page`. */
export async function signInAtProvider(page, issuer, login) {
  await page.waitForURL((url) => url.href.startsWith(issuer));
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password at all');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  // The consent page asks once per client and account.
  await page.getByRole('button', { name: 'Continue' }).click();
}
