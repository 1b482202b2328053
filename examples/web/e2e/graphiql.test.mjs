// GraphiQL as a developer meets it: the page the server serves at GET /graphql, in Chromium.
// The machine cannot reach unpkg, so the page's unpkg requests are answered from node_modules,
// from the very package versions the page pins (its integrity hashes make the browser check them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startAgora } from './server.mjs';
import { launchChromium } from './browser.mjs';

const nodeModules = fileURLToPath(new URL('../node_modules/', import.meta.url));
const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));

async function serveFromNodeModules(route) {
  const url = new URL(route.request().url());
  const [, pkg, version, path] = url.pathname.match(/^\/((?:@[^/]+\/)?[^@/]+)@([^/]+)\/(.+)$/) ?? [];
  const installed = pkg && JSON.parse(await readFile(`${nodeModules}${pkg}/package.json`, 'utf8'));
  if (!installed || installed.version !== version) {
    throw new Error(`the page asks for ${url}, but node_modules has ${pkg}@${installed?.version}`);
  }
  await route.fulfill({
    body: await readFile(`${nodeModules}${pkg}/${path}`),
    contentType: path.endsWith('.css') ? 'text/css' : 'application/javascript',
    headers: { 'access-control-allow-origin': '*' },
  });
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

test('GraphiQL signs in with cookies, runs a query and shows the docs', async (t) => {
  const agora = await startAgora();
  t.after(() => agora.stop());
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const problems = [];
  page.on('console', (message) => message.type() === 'error' && problems.push(message.text().slice(0, 300)));
  page.on('pageerror', (error) => problems.push(error.message));
  await page.route('https://unpkg.com/**', (route) =>
    serveFromNodeModules(route).catch((error) => {
      problems.push(error.message);
      return route.abort();
    }),
  );

  const password = 'graphiql tester password';
  const registered = await agora.graphql(
    'mutation($input: RegisterInput!) { register(input: $input) { user { username } } }',
    { input: { username: 'grace', email: 'grace@example.com', password } },
  );
  assert.equal(registered.data?.register.user.username, 'grace', JSON.stringify(registered));

  await page.goto(`${agora.url}/graphql`);
  await page.locator('.graphiql-container').waitFor();
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

  await mkdir(artifacts, { recursive: true });
  await page.screenshot({ path: `${artifacts}graphiql.png` });
  assert.deepEqual(problems, [], 'the page ran without errors (CSP, integrity, scripts)');
});
