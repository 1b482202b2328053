// Sign-in with an OpenID provider in Chromium, end to end: the SPA's "Sign in with Test ID"
// button, the test provider's own login and consent pages (tests/oidc/provider.mjs), Agora's
// /auth/oidc/test/callback, and back in the SPA (AGORA_APP_URL names it). A new person gets a
// new account; a person whose verified address an account already has proves that account with
// its password before the provider is linked to it; a signed-in user links from Settings, and
// with 2FA on the provider sign-in asks for the second factor. Nothing leaves the machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { freePort, startAgora } from './server.mjs';
import { startWeb } from './web.mjs';
import { launchChromium } from './browser.mjs';
import { signInAtProvider, startProvider } from './provider.mjs';
import * as OTPAuth from 'otpauth';

const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const PASSWORD = 'correct horse battery staple';
const SECRET = 'agora-test-client-secret';
const STEP_MS = 30_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('sign-in with an OpenID provider in the SPA: a new account, and linking to an existing one', async (t) => {
  // Agora's port is chosen ahead (the provider registers its callback), so the provider, which
  // starts first, must not be given the same number: freePort() never hands one out twice (see
  // server.mjs), and the provider gets one of its own from it too.
  const [agoraPort, webPort, providerPort] = [await freePort(), await freePort(), await freePort()];
  const appUrl = `http://127.0.0.1:${webPort}`;
  const provider = await startProvider({
    port: providerPort,
    clients: [
      { client_id: 'agora', client_secret: SECRET, redirect_uris: [`http://127.0.0.1:${agoraPort}/auth/oidc/test/callback`] },
    ],
    accounts: [
      { sub: 'carol', email: 'carol@example.com', email_verified: true, name: 'Carol' },
      { sub: 'dave-at-op', email: 'dave@example.com', email_verified: true, name: 'Dave' },
    ],
  });
  t.after(() => provider.stop());
  const providers = [
    {
      id: 'test',
      displayName: 'Test ID',
      issuer: provider.issuer,
      clientId: 'agora',
      clientSecret: SECRET,
      scopes: ['openid', 'email', 'profile'],
    },
  ];
  const agora = await startAgora({
    name: 'oidc',
    port: agoraPort,
    env: { AGORA_OIDC_PROVIDERS: JSON.stringify(providers), AGORA_APP_URL: appUrl },
  });
  t.after(() => agora.stop());
  const web = await startWeb(agora.url, { port: webPort });
  t.after(() => web.close());
  await mkdir(artifacts, { recursive: true });

  const browser = await launchChromium();
  t.after(() => browser.close());

  /** A fresh browser profile whose requests reach this machine only. */
  async function openPage() {
    const context = await browser.newContext();
    const offsite = [];
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (LOOPBACK.has(url.hostname)) return route.fallback();
      // Which page asked: the provider's dev login page links a web font, and may; ours may not.
      const from = new URL(route.request().frame().url()).origin;
      if (from !== provider.issuer) offsite.push(`${url.href} from ${from}`);
      return route.abort('internetdisconnected');
    });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const problems = [];
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    // Console errors on our pages only (the provider's page logs its refused web font).
    page.on('console', (message) => {
      if (message.type() !== 'error' || page.url().startsWith(provider.issuer)) return;
      problems.push(`console: ${message.text()}`);
    });
    return { context, page, offsite, problems };
  }

  const shot = (page, name) => page.screenshot({ path: `${artifacts}oidc-${name}.png`, fullPage: true });

  await t.test('a new person: the button, the provider, and back signed in to a new account', async () => {
    const { context, page, offsite, problems } = await openPage();
    await page.goto(web.url);
    const button = page.getByTestId('oidc-test');
    assert.equal(await button.innerText(), 'Sign in with Test ID');
    await button.click();
    await signInAtProvider(page, provider.issuer, 'carol');

    await page.getByTestId('whoami').getByText('Signed in as carol').waitFor();
    const url = new URL(page.url());
    assert.equal(url.origin, appUrl, 'back in the SPA');
    assert.equal(url.hash, '', 'nothing left in the fragment');
    assert.equal(url.pathname, '/');
    const names = (await context.cookies()).map((cookie) => cookie.name);
    assert.ok(names.includes('agora_access') && names.includes('agora_refresh'), names.join());

    // Settings lists the provider with the address it gave.
    await page.getByTestId('nav-settings').click();
    const identity = page.getByTestId('identity');
    await identity.getByText('Test ID (carol@example.com)').waitFor();
    // The only way into this account (it has no password): unlinking is refused.
    await identity.getByTestId('unlink').click();
    await page.getByTestId('unlink-error').getByText('LAST_CREDENTIAL').waitFor();
    await shot(page, 'new-account');

    // A reload keeps the session (the hint in localStorage, the cookies).
    await page.reload();
    await page.getByTestId('whoami').getByText('Signed in as carol').waitFor();
    assert.deepEqual(offsite, []);
    assert.deepEqual(problems, []);
    await context.close();
  });

  await t.test('an existing account with the same address: the owner proves it, then the provider is linked', async () => {
    await agora.register({ username: 'dave', email: 'dave@example.com', password: PASSWORD });
    const { context, page, offsite, problems } = await openPage();
    await page.goto(web.url);
    await page.getByTestId('oidc-test').click();
    await signInAtProvider(page, provider.issuer, 'dave-at-op');

    const form = page.getByTestId('link-form');
    await form.waitFor();
    await page.getByRole('heading', { name: 'Link Test ID to your account' }).waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the link token left the address bar');
    assert.equal(await page.getByTestId('whoami').count(), 0, 'not signed in yet');
    assert.equal((await context.cookies()).some((cookie) => cookie.name === 'agora_access'), false);

    await page.getByTestId('link-password').fill('not the password');
    await page.getByTestId('link-submit').click();
    await page.getByTestId('link-error').waitFor();
    const refusal = await page.getByTestId('link-error').innerText();
    assert.match(refusal, /password|credentials/i, refusal);
    await shot(page, 'link-refused');

    await page.getByTestId('link-password').fill(PASSWORD);
    await page.getByTestId('link-submit').click();
    await page.getByTestId('whoami').getByText('Signed in as dave').waitFor();
    await page.getByTestId('nav-settings').click();
    await page.getByTestId('identity').getByText('Test ID (dave@example.com)').waitFor();
    await shot(page, 'linked');

    // Linked now: signed out, the provider alone signs dave in (its session there lives on, so
    // it asks nothing this time).
    await page.getByTestId('logout').click();
    await page.getByTestId('login-form').waitFor();
    await page.getByTestId('oidc-test').click();
    await page.getByTestId('whoami').getByText('Signed in as dave').waitFor();

    // Dave has a password too: the identity may go, and then it is gone.
    await page.getByTestId('nav-settings').click();
    await page.getByTestId('identity').getByTestId('unlink').click();
    await page.getByText('No provider is linked to this account.').waitFor();
    assert.deepEqual(offsite, []);
    assert.deepEqual(problems, []);
    await context.close();
  });

  await t.test('linking from Settings, then provider sign-in with 2FA on asks for the second factor', async () => {
    const { page, offsite, problems } = await openPage();
    await page.goto(web.url);
    await page.getByTestId('login-name').fill('dave');
    await page.getByTestId('login-password').fill(PASSWORD);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('nav-settings').click();
    await page.getByTestId('link-test').click();
    await signInAtProvider(page, provider.issuer, 'dave-at-op');
    await page.getByTestId('identity-linked').getByText('Test ID is now linked to your account.').waitFor();
    assert.equal(new URL(page.url()).hash, '#/settings', 'back on Settings, the fragment replaced');
    await page.getByTestId('identity').getByText('Test ID (dave@example.com)').waitFor();

    // Two-factor on (through the API, as its own test is spa.test.mjs).
    const { accessToken } = await agora.login('dave', PASSWORD);
    const setup = await agora.must(
      'mutation($input: BeginTwoFactorSetupInput!) { beginTwoFactorSetup(input: $input) { otpauthUri } }',
      { input: { password: PASSWORD } },
      accessToken,
    );
    const totp = OTPAuth.URI.parse(setup.beginTwoFactorSetup.otpauthUri);
    const left = STEP_MS - (Date.now() % STEP_MS);
    if (left < 2000) await sleep(left + 200);
    const confirmedStep = Math.floor(Date.now() / STEP_MS);
    await agora.must(
      'mutation($input: ConfirmTwoFactorSetupInput!) { confirmTwoFactorSetup(input: $input) { recoveryCodes } }',
      { input: { code: totp.generate() } },
      accessToken,
    );

    await page.getByTestId('logout').click();
    await page.getByTestId('oidc-test').click();
    // The provider remembers dave and his consent: straight back, to the second factor.
    await page.getByTestId('mfa-form').waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the challenge left the address bar');
    assert.equal(await page.getByTestId('whoami').count(), 0);
    // A code of a later step than the one that turned 2FA on (each step's code works once).
    const wait = (confirmedStep + 1) * STEP_MS - Date.now();
    if (wait > 0) await sleep(wait + 200);
    await page.getByTestId('mfa-code').fill(totp.generate());
    await page.getByTestId('mfa-submit').click();
    await page.getByTestId('whoami').getByText('Signed in as dave').waitFor();
    assert.deepEqual(offsite, []);
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  await t.test('an error from the callback is shown, and the fragment cleared', async () => {
    const { context, page, problems } = await openPage();
    // The provider's refusal (the person cancelled): Agora's callback sends it to the app's root.
    await page.goto(`${agora.url}/auth/oidc/test/callback?error=access_denied`);
    const message = page.getByTestId('oidc-return-error');
    await message.waitFor();
    assert.match(await message.innerText(), /access_denied/);
    assert.equal(new URL(page.url()).hash, '');
    assert.deepEqual(problems, []);
    await context.close();
  });
});
