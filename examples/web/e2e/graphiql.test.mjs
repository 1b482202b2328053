// GraphiQL as a developer meets it: the page the server serves at GET /graphql, in Chromium,
// offline: every request that would leave this machine is refused and fails the test, so the
// page must get everything it runs from the server itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startAgora } from './server.mjs';
import { launchChromium } from './browser.mjs';

const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** A page whose requests reach this machine only; `offsite` lists the ones it refused. */
async function offlinePage(browser) {
  const context = await browser.newContext();
  const offsite = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (LOOPBACK.has(url.hostname)) return route.fallback();
    offsite.push(url.href);
    return route.abort('internetdisconnected');
  });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (message) => message.type() === 'error' && problems.push(message.text().slice(0, 300)));
  page.on('pageerror', (error) => problems.push(error.message));
  return { page, offsite, problems };
}

async function openGraphiQL(page, url, offsite) {
  await page.goto(`${url}/graphql`);
  try {
    await page.locator('.graphiql-container').waitFor({ timeout: 15_000 });
  } catch (error) {
    const shown = await page.locator('body').innerText();
    throw new Error(`GraphiQL did not start; the page shows ${JSON.stringify(shown)}, requests refused: ${offsite.join(', ') || 'none'}`, { cause: error });
  }
}

async function setQuery(page, text) {
  // Typed as a person would (insertText skips the auto-closing of brackets), so GraphiQL's own
  // change handling sees it; it works out the operation name from the edit a moment later.
  await page.click('.graphiql-query-editor .CodeMirror');
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(text);
  await page.waitForTimeout(300);
}

async function run(page, expected) {
  await page.click('.graphiql-execute-button');
  const response = page.locator('.result-window');
  try {
    await response.getByText(expected).waitFor({ timeout: 10_000 });
  } catch (error) {
    throw new Error(`expected ${expected} in the result, which reads:\n${await response.innerText()}`, { cause: error });
  }
  return response.innerText();
}

test('GraphiQL offline: signs in with cookies, runs a query, shows the docs and subscribes', async (t) => {
  const agora = await startAgora();
  t.after(() => agora.stop());
  const browser = await launchChromium();
  t.after(() => browser.close());
  const { page, offsite, problems } = await offlinePage(browser);

  const password = 'graphiql tester password';
  const registered = await agora.graphql(
    'mutation($input: RegisterInput!) { register(input: $input) { user { username } } }',
    { input: { username: 'grace', email: 'grace@example.com', password } },
  );
  assert.equal(registered.data?.register.user.username, 'grace', JSON.stringify(registered));

  await openGraphiQL(page, agora.url, offsite);
  // Only the open tab's editor is rendered visibly, so this reads the headers editor.
  const headers = await page.locator('.graphiql-editor-tool').innerText();
  assert.match(headers, /"Authorization": "Bearer </);

  await setQuery(page, 'query Anonymous { me { username } }');
  await run(page, '"UNAUTHENTICATED"');

  await setQuery(page, `mutation SignIn { login(input: { login: "grace", password: "${password}" }) {
    ... on AuthPayload { user { username } } } }`);
  await run(page, '"username": "grace"');
  // login set the cookies and GraphiQL's next request carries them; a token in the Authorization
  // header would win over them, so this also shows the example header is not sent.
  await setQuery(page, 'query Me { me { username email } }');
  assert.match(await run(page, 'grace@example.com'), /"username": "grace"/);

  await page.getByRole('button', { name: /documentation explorer/i }).click();

  const docs = page.locator('.graphiql-doc-explorer');
  await docs.getByText('Query', { exact: true }).first().click();
  await docs.getByText('me', { exact: true }).first().click();
  // The field's description, from the Rust doc comment, is what the explorer shows.
  await docs.getByText(/signed-in/i).first().waitFor();

  // GraphiQL opens the socket with the headers editor's headers as connection_init's payload;
  // the example is left out there too, so the cookie signs the socket in.
  const admin = await agora.createAdmin();
  await setQuery(page, 'subscription Events { marketEvents { kind item { name } } }');
  await page.click('.graphiql-execute-button');
  const result = page.locator('.result-window');
  // The subscription is up once an event arrives; items keep being listed until one does.
  for (let attempt = 0; ; attempt += 1) {
    const name = `GraphiQL kite ${attempt}`;
    await agora.must(
      'mutation($input: CreateItemInput!) { createItem(input: $input) { item { id } } }',
      { input: { name, price: 10, barcode: String(200000000000 + attempt) } },
      admin.token,
    );
    const shown = await result
      .getByText(`"name": "${name}"`)
      .waitFor({ timeout: 1000 })
      .then(() => true, () => false);
    if (shown) break;
    if (attempt === 10) throw new Error(`no market event arrived; the result reads:\n${await result.innerText()}`);
  }
  assert.match(await result.innerText(), /"kind": "LISTED"/);

  await mkdir(artifacts, { recursive: true });
  await page.screenshot({ path: `${artifacts}graphiql.png` });
  assert.deepEqual(problems, [], 'the page ran without errors (CSP, integrity, scripts)');
  assert.deepEqual(offsite, [], 'the page asked for nothing beyond this machine');
});

test('GraphiQL says so, rather than hanging, when its scripts do not load', async (t) => {
  const agora = await startAgora();
  t.after(() => agora.stop());
  const browser = await launchChromium();
  t.after(() => browser.close());
  const { page } = await offlinePage(browser);
  const pageUrl = `${agora.url}/graphql`;
  await page.route((url) => url.href !== pageUrl, (route) => route.abort());

  await page.goto(pageUrl);
  await page.getByText(/could not load/i).waitFor({ timeout: 5_000 }).catch(async (error) => {
    throw new Error(`the page shows ${JSON.stringify(await page.locator('body').innerText())}`, { cause: error });
  });
});
