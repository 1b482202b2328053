// The example SPA (src/) in Chromium against a real Agora: register and sign in with cookies,
// habits, two-factor setup, a transparent refresh of an expired access token, the market with
// paging and cache updates, live market events over graphql-ws, and 2FA sign-in with a TOTP
// code and with a recovery code. Access tokens live AGORA_ACCESS_TTL_SECS = 3 seconds here, so
// nearly every step also runs through the refresh link. The app's server runs only trusted
// documents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as OTPAuth from 'otpauth';
import { startAgora } from './server.mjs';
import { startWeb } from './web.mjs';
import { launchChromium } from './browser.mjs';

const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));
const manifest = fileURLToPath(new URL('../../trusted-documents.json', import.meta.url));
const TTL_SECS = 3;
const STEP_MS = 30_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const ITEMS = [
  ['Desk lamp', 120],
  ['Teapot', 35],
  ['Bicycle', 400],
  ['Kite', 25],
  ['Chess set', 60],
  ['Umbrella', 15],
  ['Typewriter', 250],
  ['Gold bar', 5000],
];

test('the SPA in Chromium: cookies, CSRF header, 2FA, refresh, market, live events, habits', async (t) => {
  // The app talks to an instance that runs only trusted documents, as production may: every
  // request it sends must be listed in examples/trusted-documents.json. This test's own setup
  // (an administrator, items, a second trader) goes to another instance on the same database.
  const shared = { AGORA_ACCESS_TTL_SECS: String(TTL_SECS), AGORA_SECRET: randomBytes(32).toString('hex') };
  const agora = await startAgora({ name: 'spa-setup', env: shared });
  const trusted = await startAgora({
    name: 'spa',
    env: { ...shared, DATABASE_URL: agora.env.DATABASE_URL, AGORA_TRUSTED_DOCUMENTS: manifest },
  });
  t.after(async () => {
    await trusted.stop();
    await agora.stop();
  });
  const web = await startWeb(trusted.url);
  t.after(() => web.close());
  await mkdir(artifacts, { recursive: true });

  const admin = await agora.createAdmin();
  const createItem = (name, price, index) =>
    agora.must(
      'mutation($input: CreateItemInput!) { createItem(input: $input) { item { id name } } }',
      { input: { name, price, barcode: String(100000000000 + index), description: `A ${name.toLowerCase()}` } },
      admin.token,
    );
  for (const [index, [name, price]] of ITEMS.entries()) await createItem(name, price, index);

  const browser = await launchChromium();
  t.after(() => browser.close());
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);

  const problems = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));

  // Every GraphQL request the page sends over HTTP, with its headers as sent.
  const sent = [];
  page.on('request', (request) => {
    if (!request.url().endsWith('/graphql') || request.method() !== 'POST') return;
    const body = request.postDataJSON() ?? {};
    sent.push({ operationName: body.operationName, headers: request.allHeaders() });
  });
  const sentNames = (from = 0) => sent.slice(from).map((request) => request.operationName);
  const refreshCookies = async () => {
    const refreshes = sent.filter((request) => request.operationName === 'RefreshSession');
    const headers = await Promise.all(refreshes.map((request) => request.headers));
    return headers.map(({ cookie = '' }) => /agora_refresh=([^;]+)/.exec(cookie)?.[1]);
  };

  const shot = (name) => page.screenshot({ path: `${artifacts}spa-${name}.png`, fullPage: true });
  const testId = (id) => page.getByTestId(id);
  const budget = () => testId('budget');
  const marketRow = (name) => testId('market-item').filter({ hasText: name });
  const myRow = (name) => testId('my-item').filter({ hasText: name });

  const user = { username: 'ada', email: 'ada@example.com', password: 'correct horse battery staple' };
  let totp;
  let confirmedStep;
  let recoveryCodes;

  async function signIn() {
    await testId('login-name').fill(user.username);
    await testId('login-password').fill(user.password);
    await testId('login-submit').click();
  }

  async function signOut() {
    await testId('logout').click();
    await testId('login-form').waitFor();
  }

  await t.test('register, then sign in: the tokens are HttpOnly cookies, never visible to scripts', async () => {
    await page.goto(`${web.url}/#/habits`);
    await testId('show-register').click();
    await testId('register-username').fill(user.username);
    await testId('register-email').fill(user.email);
    await testId('register-password').fill(user.password);
    await testId('register-submit').click();
    await page.getByText(`Account ${user.username} created. Sign in.`).waitFor();
    assert.equal(await testId('login-name').inputValue(), user.username);

    await testId('login-password').fill(user.password);
    await testId('login-submit').click();
    await page.getByText(`Signed in as ${user.username}`).waitFor();
    assert.equal(await budget().innerText(), '1000');

    // The test server speaks plain http (AGORA_COOKIE_SECURE=false): browsers refuse the
    // __Host- prefix without Secure, so the names are bare.
    const cookies = await context.cookies();
    for (const name of ['agora_access', 'agora_refresh']) {
      const cookie = cookies.find((c) => c.name === name);
      assert.ok(cookie, `${name} is set`);
      assert.equal(cookie.httpOnly, true, `${name} is HttpOnly`);
      assert.equal(cookie.path, '/', `${name} is for the whole host`);
      assert.equal(cookie.sameSite, 'Lax');
    }
    const visible = await page.evaluate(() => ({ cookie: document.cookie, storage: JSON.stringify({ ...localStorage, ...sessionStorage }) }));
    assert.doesNotMatch(visible.cookie, /agora_/);
    assert.doesNotMatch(visible.storage, /eyJ|agora_pat_|agora_rt|token/i, 'no token in web storage');

    const login = sent.find((request) => request.operationName === 'Login');
    assert.equal((await login.headers)['apollo-require-preflight'], 'true', 'Apollo sends the CSRF-safe header');
    await shot('signed-in');
  });

  await t.test('habits: create one, complete it, see the streak', async () => {
    await testId('habit-name').fill('Stretch');
    await testId('habit-submit').click();
    const due = testId('habit-due').filter({ hasText: 'Stretch' });
    await due.waitFor();
    const before = sent.length;
    await due.getByTestId('complete-habit').click();
    const done = testId('habit-done').filter({ hasText: 'Stretch' });
    await done.getByText('streak 1').waitFor();
    assert.equal(await due.count(), 0, 'no longer due today');
    assert.deepEqual(sentNames(before).filter((name) => name !== 'RefreshSession'), ['CompleteHabit'], 'the cache moved it, nothing was refetched');
    await shot('habits');
  });

  await t.test('two-factor setup from the settings page', async () => {
    await testId('nav-settings').click();
    // Signed in moments ago, well within the default 10-minute window: no password asked.
    await testId('2fa-begin').click();
    const uri = await testId('2fa-uri').innerText();
    assert.match(uri, /^otpauth:\/\/totp\//);
    assert.match(await testId('2fa-qr').getAttribute('src'), /^data:image\/svg\+xml/);
    totp = OTPAuth.URI.parse(uri);
    // Not in the last moment of a step, so the step the code names is the one the server sees.
    const left = STEP_MS - (Date.now() % STEP_MS);
    if (left < 2000) await sleep(left + 200);
    const now = Date.now();
    confirmedStep = Math.floor(now / STEP_MS);
    await testId('2fa-code').fill(totp.generate({ timestamp: now }));
    await testId('2fa-confirm').click();
    await testId('2fa-enabled').getByText('10 recovery codes left').waitFor();
    recoveryCodes = await testId('recovery-code').allInnerTexts();
    assert.equal(recoveryCodes.length, 10);
    await shot('two-factor-on');
  });

  await t.test('an expired access token is refreshed once, transparently, for requests failing together', async () => {
    // Nothing has opened the market yet: its two queries (and the socket) start together.
    await sleep((TTL_SECS + 1) * 1000);
    assert.equal((await context.cookies()).some((c) => c.name === 'agora_access'), false, 'the access cookie expired');
    const before = sent.length;
    await testId('nav-market').click();
    await marketRow('Desk lamp').waitFor();
    await testId('my-items-error').waitFor({ state: 'detached' });
    await page.getByText('You hold nothing yet.').waitFor();
    assert.equal(await testId('login-form').count(), 0, 'no sign-in needed');
    const names = sentNames(before);
    assert.ok(names.includes('Market') && names.includes('MyItems'), names.join());
    assert.ok(names.includes('RefreshSession'), `a refresh happened: ${names.join()}`);
    // A mutation after the next expiry: refreshed and retried the same way.
    await sleep((TTL_SECS + 1) * 1000);
    const refreshesBefore = sentNames().filter((name) => name === 'RefreshSession').length;
    await testId('nav-habits').click();
    await testId('habit-name').fill('Read');
    await testId('habit-submit').click();
    await testId('habit-due').filter({ hasText: 'Read' }).waitFor();
    assert.ok(sentNames().filter((name) => name === 'RefreshSession').length > refreshesBefore, 'the mutation was refreshed');

    const cookies = await refreshCookies();
    assert.equal(new Set(cookies).size, cookies.length, 'no two refreshes presented the same refresh token');
    await testId('refresh-count').getByText(String(cookies.length), { exact: true }).waitFor();
    await testId('nav-market').click();
  });

  await t.test('market: pages merge in the cache, buying and selling move budget and items', async () => {
    assert.equal(await testId('market-item').count(), 5, 'a first page of five');
    await testId('market-more').click();
    await marketRow('Gold bar').waitFor();
    assert.equal(await testId('market-item').count(), ITEMS.length, 'the second page was appended');
    await page.getByText(`${ITEMS.length} items for sale`).waitFor();

    let before = sent.length;
    await marketRow('Desk lamp').getByTestId('buy').click();
    await budget().getByText('880').waitFor();
    await myRow('Desk lamp').waitFor();
    await marketRow('Desk lamp').waitFor({ state: 'detached' });
    await page.getByText(`${ITEMS.length - 1} items for sale`).waitFor();
    assert.deepEqual(sentNames(before).filter((name) => name !== 'RefreshSession'), ['PurchaseItem'], 'no list was refetched');
    await shot('market-bought');

    before = sent.length;
    await myRow('Desk lamp').getByTestId('sell').click();
    await budget().getByText('1000').waitFor();
    await marketRow('Desk lamp').waitFor();
    await myRow('Desk lamp').waitFor({ state: 'detached' });
    assert.deepEqual(sentNames(before).filter((name) => name !== 'RefreshSession'), ['SellItem'], 'no list was refetched');

    // A refusal is shown, not swallowed, and changes nothing.
    await marketRow('Gold bar').getByTestId('buy').click();
    await testId('trade-error').getByText('INSUFFICIENT_FUNDS').waitFor();
    assert.equal(await budget().innerText(), '1000');
    await marketRow('Gold bar').waitFor();
    assert.equal(await testId('my-item').count(), 0);
  });

  await t.test("live: another user's purchase shows up without a reload", async () => {
    // The subscription is up once a LISTED event arrives; items keep being listed until one does.
    for (let attempt = 0; ; attempt += 1) {
      const name = `Fresh bread ${attempt}`;
      await createItem(name, 5, 100 + attempt);
      const shown = await testId('market-event')
        .filter({ hasText: `LISTED ${name}` })
        .waitFor({ timeout: 2000 })
        .then(() => true, () => false);
      if (shown) {
        await marketRow(name).waitFor();
        break;
      }
      assert.ok(attempt < 10, 'the market subscription delivered a LISTED event');
    }
    await agora.register({ username: 'bob', password: 'bob has a long password' });
    const bob = await agora.apiToken('bob', 'bob has a long password');
    const teapot = await marketRow('Teapot').getAttribute('data-item-id');
    const bought = await agora.must(
      'mutation($input: PurchaseItemInput!) { purchaseItem(input: $input) { budget item { id } } }',
      { input: { itemId: teapot } },
      bob,
    );
    assert.equal(bought.purchaseItem.budget, 965);
    await testId('market-event').filter({ hasText: 'PURCHASED Teapot by bob' }).waitFor();
    await marketRow('Teapot').waitFor({ state: 'detached' });
    await shot('market-live');
  });

  await t.test('sign-in with 2FA on: the code form, answered with a TOTP code', async () => {
    await signOut();
    await signIn();
    await testId('mfa-form').waitFor();
    // Each time step is accepted once per user: the setup used one, so wait for the next.
    const wait = (confirmedStep + 1) * STEP_MS - Date.now();
    if (wait > 0) await sleep(wait + 200);
    await testId('mfa-code').fill(totp.generate());
    await testId('mfa-submit').click();
    await page.getByText(`Signed in as ${user.username}`).waitFor();
    await shot('mfa-signed-in');
  });

  await t.test('sign-in with 2FA on, answered with a recovery code', async () => {
    await signOut();
    await signIn();
    await testId('mfa-toggle-recovery').click();
    await testId('mfa-code').fill(recoveryCodes[0]);
    await testId('mfa-submit').click();
    await page.getByText(`Signed in as ${user.username}`).waitFor();
    await testId('nav-settings').click();
    await testId('2fa-enabled').getByText('9 recovery codes left').waitFor();

    // The same code again is refused, and the app says so.
    await signOut();
    await signIn();
    await testId('mfa-toggle-recovery').click();
    await testId('mfa-code').fill(recoveryCodes[0]);
    await testId('mfa-submit').click();
    await testId('auth-error').waitFor();
    await testId('mfa-code').fill(recoveryCodes[1]);
    await testId('mfa-submit').click();
    await page.getByText(`Signed in as ${user.username}`).waitFor();
  });

  await t.test('when the session is gone, the app returns to the sign-in screen', async () => {
    await context.clearCookies();
    await page.reload();
    await testId('login-form').waitFor();
    await shot('signed-out');
  });

  await t.test('the trusted instance refused nothing the app sent, and refuses other documents', async () => {
    assert.doesNotMatch(await readFile(trusted.logFile, 'utf8'), /PERSISTED_QUERY_NOT_IN_LIST/);
    const refused = await trusted.graphql('{ me { id } }');
    assert.equal(refused.errors?.[0]?.extensions?.code, 'PERSISTED_QUERY_NOT_IN_LIST', JSON.stringify(refused));
  });

  assert.deepEqual(problems, [], 'the page ran without errors');
});
