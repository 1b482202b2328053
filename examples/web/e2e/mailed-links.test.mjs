// Mailed links opened in Chromium, from the .eml files Agora writes when it has no SMTP server:
// the welcome mail's verification link and a reset link, each finished in the browser. First on
// Agora's own pages (no AGORA_APP_URL: links lead to the port the server listens on), then in the
// example SPA (AGORA_APP_URL names it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, startAgora } from './server.mjs';
import { startWeb } from './web.mjs';
import { launchChromium } from './browser.mjs';

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a brand new passphrase';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A mail file as a reader sees it: quoted-printable soft breaks and escapes undone. */
const unfold = (eml) =>
  eml.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));

/** The `page` link of the newest mail file that has one, waiting up to 10 s for it to be written. */
async function mailedLink(agora, page, after = '') {
  const folder = join(agora.env.AGORA_DATA_DIR, 'mail');
  const pattern = new RegExp(`https?://[^\\s"<>]+/${page}#token=[\\w-]+`);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const names = await readdir(folder).catch(() => []);
    const newestFirst = names.filter((name) => name.endsWith('.eml')).sort((a, b) => parseInt(b) - parseInt(a));
    for (const name of newestFirst) {
      const link = pattern.exec(unfold(await readFile(join(folder, name), 'utf8')))?.[0];
      if (link && link !== after) return link;
    }
    if (Date.now() > deadline) throw new Error(`no ${page} link in ${folder}: ${names.join(', ')}`);
    await sleep(100);
  }
}

async function emailVerified(agora, username, password) {
  const { accessToken } = await agora.login(username, password);
  return (await agora.must('{ me { emailVerified } }', {}, accessToken)).me.emailVerified;
}

async function requestReset(agora, email) {
  await agora.must('mutation($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) { message } }', {
    input: { email },
  });
}

/** A page in a Chromium of the test's own, recording script errors and CSP violations (Chromium logs both). */
async function openPage(t) {
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  const problems = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));
  return { page, problems };
}

test("mailed links finish verification and reset on Agora's own pages", async (t) => {
  const agora = await startAgora({ name: 'mailed-links' });
  t.after(() => agora.stop());
  const { page, problems } = await openPage(t);
  await agora.register({ username: 'ada', password: PASSWORD });

  const verify = await mailedLink(agora, 'verify-email');
  assert.ok(verify.startsWith(`${agora.url}/verify-email#token=`), verify);
  await page.goto(verify);
  await page.getByText('Thank you, ada: your email address is verified.').waitFor();
  assert.equal(new URL(page.url()).hash, '', 'the token left the address bar');
  assert.equal(await emailVerified(agora, 'ada', PASSWORD), true);

  await requestReset(agora, 'ada@example.com');
  const reset = await mailedLink(agora, 'reset-password');
  assert.ok(reset.startsWith(`${agora.url}/reset-password#token=`), reset);
  await page.goto(reset);
  await page.getByLabel('New password').fill('password1');
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await page.getByText('Password is too common').waitFor();
  await page.getByLabel('New password').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await page.getByText('Your password is changed').waitFor();
  await agora.login('ada', NEW_PASSWORD);

  // Spent: the same link again says so. (Opened from elsewhere: from the page itself, only its
  // fragment would change, and a browser does not load a page again for that.)
  await page.goto('about:blank');
  await page.goto(reset);
  await page.getByLabel('New password').fill('another new passphrase');
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await page.getByText('This link is invalid or has expired').waitFor();
  assert.deepEqual(problems, []);
});

test('mailed links finish verification and reset in the SPA named by AGORA_APP_URL', async (t) => {
  const webPort = await freePort();
  const appUrl = `http://127.0.0.1:${webPort}`;
  const agora = await startAgora({ name: 'mailed-links-spa', env: { AGORA_APP_URL: appUrl } });
  t.after(() => agora.stop());
  const web = await startWeb(agora.url, { port: webPort });
  t.after(() => web.close());
  const { page, problems } = await openPage(t);
  await agora.register({ username: 'bob', password: PASSWORD });

  const verify = await mailedLink(agora, 'verify-email');
  assert.ok(verify.startsWith(`${appUrl}/verify-email#token=`), verify);
  await page.goto(verify);
  await page.getByTestId('verify-result').getByText('Thank you, bob: your email address is verified.').waitFor();
  assert.equal(new URL(page.url()).hash, '', 'the token left the address bar');
  assert.equal(await emailVerified(agora, 'bob', PASSWORD), true);

  await requestReset(agora, 'bob@example.com');
  const reset = await mailedLink(agora, 'reset-password');
  assert.ok(reset.startsWith(`${appUrl}/reset-password#token=`), reset);
  await page.goto(reset);
  await page.getByTestId('reset-password').fill('password1');
  await page.getByTestId('reset-submit').click();
  await page.getByTestId('reset-error').getByText('Password is too common').waitFor();
  await page.getByTestId('reset-password').fill(NEW_PASSWORD);
  await page.getByTestId('reset-submit').click();
  await page.getByTestId('reset-done').waitFor();
  await agora.login('bob', NEW_PASSWORD);
  assert.deepEqual(problems, []);
});
